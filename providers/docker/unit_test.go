package docker

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/sena-labs/sena/core"
)

func TestDerivedDockerfile(t *testing.T) {
	got := derivedDockerfile("base:1", "", []string{"curl", "git"}, []string{"torch", "transformers>=4.40", "it's"})
	want := "FROM base:1\n" +
		"RUN dpkg -s 'curl' 'git' >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends 'curl' 'git' && rm -rf /var/lib/apt/lists/*)\n" +
		"RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'torch' 'transformers>=4.40' 'it'\\''s'\n"
	if got != want {
		t.Errorf("derivedDockerfile:\n%s\nwant:\n%s", got, want)
	}

	// A base that runs as another user installs as root and switches back.
	got = derivedDockerfile("base:1", "jovyan", nil, []string{"numpy"})
	want = "FROM base:1\nUSER root\nRUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'numpy'\nUSER jovyan\n"
	if got != want {
		t.Errorf("derivedDockerfile with user:\n%s\nwant:\n%s", got, want)
	}
}

func TestDerivedTag(t *testing.T) {
	a := derivedTag("sha256:1", "FROM x\n")
	if !strings.HasPrefix(a, "sena-derived:") || len(a) != len("sena-derived:")+16 {
		t.Errorf("tag %q: want sena-derived:<16 hex>", a)
	}
	if a != derivedTag("sha256:1", "FROM x\n") {
		t.Error("same base and Dockerfile gave different tags")
	}
	if a == derivedTag("sha256:2", "FROM x\n") || a == derivedTag("sha256:1", "FROM y\n") {
		t.Error("a different base or Dockerfile gave the same tag")
	}
}

func TestCheckPackages(t *testing.T) {
	for _, tc := range []struct {
		system, python []string
		bad            string
	}{
		{system: []string{"build-essential", "curl=7.88.1-10", "libc6:amd64", "g++"}},
		{python: []string{"torch", "transformers>=4.40", "numpy<2; python_version>'3.8'"}},
		{system: []string{"curl; rm -rf /"}, bad: `system package "curl; rm -rf /"`},
		{system: []string{"Curl"}, bad: `system package "Curl"`},
		{python: []string{"--index-url=http://evil"}, bad: "options such as --index-url"},
		{python: []string{"torch\nRUN x"}, bad: "is not a pip requirement"},
		{python: []string{" "}, bad: "is not a pip requirement"},
	} {
		err := checkPackages(tc.system, tc.python)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("checkPackages(%q, %q) = %v, want nil", tc.system, tc.python, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad) || !errors.Is(err, core.ErrInvalidConfig)):
			t.Errorf("checkPackages(%q, %q) = %v, want ErrInvalidConfig containing %q", tc.system, tc.python, err, tc.bad)
		}
	}
}

func TestReadBuild(t *testing.T) {
	ok := `{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---\u003e abc\n"}{"stream":"Successfully built abc\n"}`
	var steps []string
	if err := readBuild(strings.NewReader(ok), func(s string) { steps = append(steps, s) }); err != nil {
		t.Fatalf("readBuild(ok) = %v", err)
	}
	if !slices.Equal(steps, []string{"Step 1/2 : FROM x"}) {
		t.Errorf("progress = %q, want the step line", steps)
	}

	failed := `{"stream":"Step 1/2 : FROM x\n"}{"stream":"Step 2/2 : RUN pip install nope\n"}` +
		`{"stream":" ---\u003e Running in 4b5d\n"}{"stream":"\u001b[91mERROR: No matching distribution found for nope\n\u001b[0m"}` +
		`{"errorDetail":{"message":"The command '/bin/sh -c pip install nope' returned a non-zero code: 1"},"error":"..."}`
	err := readBuild(strings.NewReader(failed), func(string) {})
	for _, want := range []string{"Step 2/2 : RUN pip install nope", "returned a non-zero code: 1", "No matching distribution found for nope"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("readBuild(failed) = %v, want it to contain %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "FROM x") || strings.Contains(err.Error(), "Running in") || strings.Contains(err.Error(), "\x1b")) {
		t.Errorf("readBuild(failed) = %q: earlier steps, builder bookkeeping and colour codes should not be in the tail", err)
	}
}

func TestDeviceRequests(t *testing.T) {
	if got := deviceRequests(core.GPU{}); got != nil {
		t.Errorf("deviceRequests(no GPU) = %v, want nil", got)
	}
	got := deviceRequests(core.GPU{Kind: "H100", Count: 4})
	want := []container.DeviceRequest{{Driver: "nvidia", Count: 4, Capabilities: [][]string{{"gpu", "compute", "utility"}}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deviceRequests(H100:4) = %+v, want %+v", got, want)
	}
	if got := deviceRequests(core.GPU{Kind: "T4"}); len(got) != 1 || got[0].Count != 1 {
		t.Errorf("deviceRequests(T4, count 0) = %+v, want one GPU", got)
	}
}

func TestGPUNameMatches(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		want       bool
	}{
		{"NVIDIA A100-SXM4-80GB", "A100", true},
		{"NVIDIA A100-SXM4-80GB", "A100-80GB", true},
		{"NVIDIA A100-PCIE-40GB", "A100-80GB", false},
		{"NVIDIA A100-PCIE-40GB", "a100-40gb", true},
		{"NVIDIA H100 80GB HBM3", "H100", true},
		{"NVIDIA H100 80GB HBM3", "H200", false},
		{"Tesla T4", "T4", true},
		{"NVIDIA L40S", "L4", false},
		{"NVIDIA L4", "L4", true},
		{"NVIDIA A10G", "A100", false},
	} {
		if got := gpuNameMatches(tc.name, tc.kind); got != tc.want {
			t.Errorf("gpuNameMatches(%q, %q) = %v, want %v", tc.name, tc.kind, got, tc.want)
		}
	}
}

func TestNewContainerSpec(t *testing.T) {
	req := &core.CreateRequest{
		SessionID:    "s1",
		Labels:       map[string]string{core.LabelStateDir: "abc"},
		JupyterToken: "secret-token",
		Spec: core.SandboxSpec{
			GPU:         core.GPU{Kind: "A100", Count: 2},
			Env:         map[string]string{"HF_TOKEN": "hf", "A": "1"},
			Mounts:      []core.Mount{{Source: "/models", Target: "/models", ReadOnly: true}},
			CPUs:        1.5,
			MemoryMiB:   512,
			Timeout:     90 * time.Second,
			IdleTimeout: time.Minute,
		},
	}
	cs := newContainerSpec(req, "img:1")
	cmd := strings.Join(cs.config.Cmd, " ")
	if !strings.HasPrefix(cmd, "timeout -k 30 90 python3 -c "+core.JupyterServerLauncher+" ") {
		t.Errorf("cmd %q: want jupyter_server under `timeout 90`", cmd)
	}
	for _, want := range []string{"--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--ServerApp.root_dir=/workspace", "--sena-idle-timeout=60"} {
		if !slices.Contains(cs.config.Cmd, want) {
			t.Errorf("cmd %q lacks %s", cmd, want)
		}
	}
	if strings.Contains(cmd, "secret-token") || strings.Contains(fmt.Sprint(cs.config.Labels), "secret-token") {
		t.Error("the Jupyter token is on the command line or in a label")
	}
	if want := []string{"JUPYTER_TOKEN=secret-token", "A=1", "HF_TOKEN=hf"}; !slices.Equal(cs.config.Env, want) {
		t.Errorf("env = %q, want %q", cs.config.Env, want)
	}
	if l := cs.config.Labels; l[core.LabelManaged] != "true" || l[core.LabelSession] != "s1" || l[core.LabelStateDir] != "abc" {
		t.Errorf("labels = %v, want managed, session and the request's own", l)
	}
	b := cs.host.PortBindings[jupyterPort]
	if len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "" {
		t.Errorf("port bindings = %+v, want 8888 on 127.0.0.1, engine-chosen port", b)
	}
	if r := cs.host.Resources; r.NanoCPUs != 1_500_000_000 || r.Memory != 512<<20 || len(r.DeviceRequests) != 1 || r.DeviceRequests[0].Count != 2 {
		t.Errorf("resources = %+v, want 1.5 CPUs, 512 MiB, 2 GPUs", r)
	}
	if m := cs.host.Mounts; len(m) != 1 || m[0].Source != "/models" || !m[0].ReadOnly {
		t.Errorf("mounts = %+v, want /models read-only", m)
	}
	if d := newContainerSpec(&core.CreateRequest{SessionID: "s2", JupyterToken: "t"}, "img:1"); !slices.Contains(d.config.Cmd, fmt.Sprint(int(DefaultTimeout.Seconds()))) {
		t.Errorf("cmd %q: want the default timeout when the spec sets none", d.config.Cmd)
	}
}

func TestValidate(t *testing.T) {
	good := func() *core.CreateRequest { return &core.CreateRequest{SessionID: "s1", JupyterToken: "t"} }
	for _, tc := range []struct {
		name   string
		modify func(*core.CreateRequest)
		want   string
	}{
		{"session id", func(r *core.CreateRequest) { r.SessionID = "a/b" }, "cannot name a container"},
		{"token", func(r *core.CreateRequest) { r.JupyterToken = "" }, "no Jupyter token"},
		{"cpus", func(r *core.CreateRequest) { r.Spec.CPUs = -1 }, "cpus -1"},
		{"memory", func(r *core.CreateRequest) { r.Spec.MemoryMiB = 10 }, "at least 64 MiB"},
		{"env", func(r *core.CreateRequest) { r.Spec.Env = map[string]string{"JUPYTER_TOKEN": "x"} }, `"JUPYTER_TOKEN" is not allowed`},
		{"mount", func(r *core.CreateRequest) { r.Spec.Mounts = []core.Mount{{Source: "rel", Target: "/x"}} }, "must be absolute"},
		{"file", func(r *core.CreateRequest) { r.Spec.Files = map[string][]byte{"../etc/passwd": nil} }, "inside the workspace"},
		{"package", func(r *core.CreateRequest) { r.Spec.SystemPackages = []string{"a b"} }, "not a Debian package name"},
	} {
		r := good()
		tc.modify(r)
		if err := validate(r); err == nil || !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: validate = %v, want ErrInvalidConfig containing %q", tc.name, err, tc.want)
		}
	}
	if err := validate(good()); err != nil {
		t.Errorf("validate(good) = %v", err)
	}
}

func TestFilesTar(t *testing.T) {
	buf, err := filesTar(map[string][]byte{"lib/a/mod.py": []byte("x = 1\n"), "lib/b.py": nil, "top.md": []byte("#")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	want := []string{"workspace/", "workspace/lib/", "workspace/lib/a/", "workspace/lib/a/mod.py", "workspace/lib/b.py", "workspace/top.md"}
	if !slices.Equal(names, want) {
		t.Errorf("tar entries = %q, want %q", names, want)
	}
}

func TestTranslate(t *testing.T) {
	host := "unix:///var/run/docker.sock"
	denied := &url.Error{Op: "Get", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}}
	err := translate("list containers", host, denied)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "docker group") {
		t.Errorf("permission denied: %v, want ErrUnavailable naming the docker group", err)
	}
	if err := translate("op", host, nil); err != nil {
		t.Errorf("translate(nil) = %v", err)
	}
}
