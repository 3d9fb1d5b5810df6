package docker

import (
	"archive/tar"
	"encoding/json"
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

	"github.com/sena-labs/sena/core"
)

func TestDerivedDockerfile(t *testing.T) {
	ps := newPackageSet([]string{"git", "curl", "git"}, []string{"transformers>=4.40", "torch", "it's"})
	got := derivedDockerfile("base:1", "", ps, false)
	want := "FROM base:1\n" + buildArgLines +
		"RUN dpkg -s 'curl' 'git' >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends 'curl' 'git' && rm -rf /var/lib/apt/lists/*)\n" +
		"RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'torch'\n" +
		"RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'it'\\''s' 'transformers>=4.40'\n"
	if got != want {
		t.Errorf("derivedDockerfile:\n%s\nwant:\n%s", got, want)
	}

	// A base that runs as another user installs as root and switches back;
	// a CA bundle is copied in before anything is installed.
	got = derivedDockerfile("base:1", "jovyan", newPackageSet(nil, []string{"numpy"}), true)
	want = "FROM base:1\nUSER root\nCOPY sena-build-ca.pem /etc/sena/build-ca.pem\n" + buildArgLines +
		"RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir 'numpy'\nUSER jovyan\n"
	if got != want {
		t.Errorf("derivedDockerfile with user and CA:\n%s\nwant:\n%s", got, want)
	}
}

func TestPackageSetIsNormalised(t *testing.T) {
	a := newPackageSet([]string{"git", "curl"}, []string{"transformers", "Torch==2.10.0", "accelerate", "numpy"})
	b := newPackageSet([]string{"curl", "git", "curl"}, []string{"numpy", "accelerate", "Torch==2.10.0", "transformers", "numpy"})
	if a.String() != b.String() {
		t.Errorf("the same packages in another order: %q vs %q", a, b)
	}
	if !slices.Equal(a.Heavy, []string{"Torch==2.10.0"}) || !slices.Equal(a.Python, []string{"accelerate", "numpy", "transformers"}) {
		t.Errorf("package set %+v: want torch apart, the rest sorted", a)
	}
	for r, want := range map[string]string{"Torch_Vision>=0.1": "torch-vision", "flash_attn": "flash-attn", "numpy[dev]; python_version>'3'": "numpy", "a.b": "a-b"} {
		if got := requirementName(r); got != want {
			t.Errorf("requirementName(%q) = %q, want %q", r, got, want)
		}
	}
}

func TestDerivedTag(t *testing.T) {
	ps := newPackageSet(nil, []string{"numpy"})
	a := derivedTag("sha256:1", "", ps)
	if !strings.HasPrefix(a, "sena-derived:") || len(a) != len("sena-derived:")+16 {
		t.Errorf("tag %q: want sena-derived:<16 hex>", a)
	}
	if a != derivedTag("sha256:1", "", newPackageSet(nil, []string{"numpy", "numpy"})) {
		t.Error("the same base and packages gave different tags")
	}
	if a == derivedTag("sha256:2", "", ps) || a == derivedTag("sha256:1", "", newPackageSet(nil, []string{"scipy"})) || a == derivedTag("sha256:1", "jovyan", ps) {
		t.Error("a different base, user or package set gave the same tag")
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
	var steps []core.Progress
	if err := readBuild(strings.NewReader(ok), func(p core.Progress) { steps = append(steps, p) }); err != nil {
		t.Fatalf("readBuild(ok) = %v", err)
	}
	want := []core.Progress{
		{Step: "image", Message: "Step 1/2 : FROM x", Done: 0, Total: 2, Unit: "steps"},
		{Step: "image", Message: "built", Done: 2, Total: 2, Unit: "steps", Finished: true},
	}
	if !slices.Equal(steps, want) {
		t.Errorf("progress = %+v, want %+v", steps, want)
	}

	// pip's lines inside a step are summarised under it.
	pip := `{"stream":"Step 2/3 : RUN pip install numpy\n"}{"stream":"Collecting numpy\n"}{"stream":"  Downloading numpy-2.0-cp311.whl (18.2 MB)\n"}`
	steps = nil
	if err := readBuild(strings.NewReader(pip), func(p core.Progress) { steps = append(steps, p) }); err != nil {
		t.Fatal(err)
	}
	if len(steps) < 3 || steps[2].Message != "Step 2/3 : RUN pip install numpy · downloading numpy-2.0-cp311.whl (18.2 MB) · 18.2 MB downloaded" || steps[2].Done != 1 || steps[2].Total != 3 {
		t.Errorf("progress = %+v, want pip's download inside step 2 of 3", steps)
	}

	failed := `{"stream":"Step 1/2 : FROM x\n"}{"stream":"Step 2/2 : RUN pip install nope\n"}` +
		`{"stream":" ---\u003e Running in 4b5d\n"}{"stream":"\u001b[91mERROR: No matching distribution found for nope\n\u001b[0m"}` +
		`{"errorDetail":{"message":"The command '/bin/sh -c pip install nope' returned a non-zero code: 1"},"error":"..."}`
	err := readBuild(strings.NewReader(failed), func(core.Progress) {})
	for _, want := range []string{"Step 2/2 : RUN pip install nope", "returned a non-zero code: 1", "No matching distribution found for nope"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("readBuild(failed) = %v, want it to contain %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "FROM x") || strings.Contains(err.Error(), "Running in") || strings.Contains(err.Error(), "\x1b")) {
		t.Errorf("readBuild(failed) = %q: earlier steps, builder bookkeeping and colour codes should not be in the tail", err)
	}
}

// TestDeviceRequests checks the request against what moby's NVIDIA driver
// reads (daemon/devices_nvidia_linux.go, getRequestedDevicesIDs): DeviceIDs
// become NVIDIA_VISIBLE_DEVICES (or CDI names nvidia.com/gpu=ID) only with
// Count 0; a Count would mean devices 0..N-1, and both together are refused.
// The capabilities must match the driver's set: gpu plus NVIDIA's own.
func TestDeviceRequests(t *testing.T) {
	if got := deviceRequests(nil); got != nil {
		t.Errorf("deviceRequests(none) = %v, want nil", got)
	}
	uuids := []string{"GPU-aaaa", "MIG-bbbb"}
	got := deviceRequests(uuids)
	if len(got) != 1 {
		t.Fatalf("deviceRequests = %+v, want one request", got)
	}
	r := got[0]
	if r.Driver != "nvidia" || r.Count != 0 || !slices.Equal(r.DeviceIDs, uuids) {
		t.Errorf("request %+v: want driver nvidia, Count 0, DeviceIDs %q", r, uuids)
	}
	nvidiaCaps := map[string]bool{"gpu": true, "nvidia": true, "compute": true, "compat32": true, "graphics": true, "utility": true, "video": true, "display": true}
	if len(r.Capabilities) != 1 || !slices.Contains(r.Capabilities[0], "gpu") {
		t.Errorf("capabilities %q: want one set with gpu", r.Capabilities)
	}
	for _, c := range r.Capabilities[0] {
		if !nvidiaCaps[c] {
			t.Errorf("capability %q is not one the NVIDIA driver registers", c)
		}
	}
	uuids[0] = "changed"
	if r.DeviceIDs[0] != "GPU-aaaa" {
		t.Error("the request shares the caller's slice")
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
			Env:         map[string]string{"HF_TOKEN": "hf-secret-value", "A": "1"},
			SecretNames: []string{"HF_TOKEN"},
			Mounts:      []core.Mount{{Source: "/models", Target: "/models", ReadOnly: true}, {Source: "/data", Target: "mounts/data"}},
			CPUs:        1.5,
			MemoryMiB:   512,
			Timeout:     90 * time.Second,
			IdleTimeout: time.Minute,
		},
	}
	opts, err := decodeOptions(&req.Spec)
	if err != nil {
		t.Fatal(err)
	}
	cs := newContainerSpec(req, "img:1", opts)
	cmd := strings.Join(cs.config.Cmd, " ")
	if !strings.HasPrefix(cmd, "timeout -k 30 90 python3 -c "+core.JupyterServerLauncher+" ") {
		t.Errorf("cmd %q: want jupyter_server under `timeout 90`", cmd)
	}
	for _, want := range []string{"--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--ServerApp.root_dir=/workspace", "--sena-idle-timeout=60"} {
		if !slices.Contains(cs.config.Cmd, want) {
			t.Errorf("cmd %q lacks %s", cmd, want)
		}
	}
	// The token and secrets are in files, not in the inspectable config.
	inspectable := cmd + fmt.Sprint(cs.config.Labels) + strings.Join(cs.config.Env, " ")
	if strings.Contains(inspectable, "secret-token") || strings.Contains(inspectable, "hf-secret-value") {
		t.Errorf("the token or a secret is in the command line, labels or env: %s", inspectable)
	}
	if want := []string{"JUPYTER_TOKEN_FILE=/run/sena/jupyter-token", "SENA_KERNEL_ENV_FILE=/run/sena/kernel-env.json", "NVIDIA_VISIBLE_DEVICES=void", "A=1"}; !slices.Equal(cs.config.Env, want) {
		t.Errorf("env = %q, want %q", cs.config.Env, want)
	}
	if tok := cs.files["run/sena/jupyter-token"]; string(tok.data) != "secret-token" {
		t.Errorf("token file = %q", tok.data)
	}
	var kenv map[string]string
	if err := json.Unmarshal(cs.files["run/sena/kernel-env.json"].data, &kenv); err != nil || kenv["HF_TOKEN"] != "hf-secret-value" || len(kenv) != 1 {
		t.Errorf("the kernels' env file = %v (%v), want only the secret HF_TOKEN", kenv, err)
	}
	if l := cs.config.Labels; l[core.LabelManaged] != "true" || l[core.LabelSession] != "s1" || l[core.LabelStateDir] != "abc" || l[labelTimeout] != "1m30s" {
		t.Errorf("labels = %v, want managed, session, timeout and the request's own", l)
	}
	b := cs.host.PortBindings[jupyterPort]
	if len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "" {
		t.Errorf("port bindings = %+v, want 8888 on 127.0.0.1, engine-chosen port", b)
	}
	if r := cs.host.Resources; r.NanoCPUs != 1_500_000_000 || r.Memory != 512<<20 || len(r.DeviceRequests) != 0 || *r.PidsLimit != defaultPidsLimit {
		t.Errorf("resources = %+v, want 1.5 CPUs, 512 MiB, no GPUs before allocation, the pids limit", r)
	}
	// Hardening: the defaults, shm capped at the memory limit.
	if h := cs.host; !slices.Equal(h.SecurityOpt, []string{"no-new-privileges:true"}) || !slices.Equal([]string(h.CapDrop), []string{"ALL"}) || h.ShmSize != 512<<20 {
		t.Errorf("hardening: security %q, cap_drop %q, shm %d; want no-new-privileges, ALL, 512 MiB", h.SecurityOpt, h.CapDrop, h.ShmSize)
	}
	if m := cs.host.Mounts; len(m) != 2 || m[1].Target != "/workspace/mounts/data" || m[1].ReadOnly {
		t.Errorf("a relative mount target is not under the work dir: %+v", m)
	}
	if m := cs.host.Mounts; len(m) < 1 || m[0].Source != "/models" || !m[0].ReadOnly {
		t.Errorf("mounts = %+v, want /models read-only", m)
	}

	// GPUs, once chosen: the label, the visible devices, the request.
	cs.withGPUs(engineGPUs{}, []string{"GPU-1", "GPU-2"})
	if cs.config.Labels[LabelGPUs] != "GPU-1,GPU-2" || !slices.Contains(cs.config.Env, "NVIDIA_VISIBLE_DEVICES=GPU-1,GPU-2") || len(cs.host.DeviceRequests) != 1 {
		t.Errorf("with GPUs: labels %v, env %q, requests %+v", cs.config.Labels, cs.config.Env, cs.host.DeviceRequests)
	}

	d := &core.CreateRequest{SessionID: "s2", JupyterToken: "t"}
	dopts, _ := decodeOptions(&d.Spec)
	if cs := newContainerSpec(d, "img:1", dopts); !slices.Contains(cs.config.Cmd, fmt.Sprint(int(DefaultTimeout.Seconds()))) || cs.host.ShmSize != defaultShmMiB<<20 {
		t.Errorf("cmd %q, shm %d: want the default timeout and shm size when the spec sets none", cs.config.Cmd, cs.host.ShmSize)
	}
}

func TestOptionsOverrideHardening(t *testing.T) {
	spec := core.SandboxSpec{Options: json.RawMessage(`{"no_new_privileges":false,"cap_drop":[],"cap_add":["SYS_PTRACE"],"pids_limit":0,"shm_mib":64,"network":"none"}`)}
	if _, err := capabilities.ValidateOptions(Name, map[string]any{"no_new_privileges": false, "cap_drop": []any{}, "cap_add": []any{"SYS_PTRACE"}, "pids_limit": 0, "shm_mib": 64, "network": "none", "gpu_devices": []any{"GPU-1"}}); err != nil {
		t.Fatalf("the schema refuses valid options: %v", err)
	}
	if _, err := capabilities.ValidateOptions(Name, map[string]any{"network": "host"}); err == nil {
		t.Error("the schema accepts network=host")
	}
	opts, err := decodeOptions(&spec)
	if err != nil {
		t.Fatal(err)
	}
	cs := newContainerSpec(&core.CreateRequest{SessionID: "s3", JupyterToken: "t", Spec: spec}, "img:1", opts)
	h := cs.host
	if len(h.SecurityOpt) != 0 || len(h.CapDrop) != 0 || !slices.Equal([]string(h.CapAdd), []string{"SYS_PTRACE"}) || h.Resources.PidsLimit != nil || h.ShmSize != 64<<20 {
		t.Errorf("overridden hardening: %+v", h)
	}
	if h.NetworkMode != "sena-s3-internal" || h.PortBindings != nil || cs.config.Labels[labelNetwork] != "none" {
		t.Errorf("network=none: mode %q, ports %v, labels %v", h.NetworkMode, h.PortBindings, cs.config.Labels)
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
		{"gpu env", func(r *core.CreateRequest) { r.Spec.Env = map[string]string{"NVIDIA_VISIBLE_DEVICES": "all"} }, `"NVIDIA_VISIBLE_DEVICES" is not allowed`},
		{"mount", func(r *core.CreateRequest) { r.Spec.Mounts = []core.Mount{{Source: "rel", Target: "/x"}} }, "must be absolute"},
		{"mount target", func(r *core.CreateRequest) { r.Spec.Mounts = []core.Mount{{Source: "/x", Target: "../x"}} }, "stay inside the work dir"},
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
	buf, err := filesTar(map[string]fileEntry{
		"workspace/lib/a/mod.py": {data: []byte("x = 1\n"), mode: 0o644}, "workspace/lib/b.py": {mode: 0o644},
		"workspace/top.md": {data: []byte("#"), mode: 0o644}, "run/sena/jupyter-token": {data: []byte("t"), mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	modes := map[string]int64{}
	tr := tar.NewReader(buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		modes[h.Name] = h.Mode
	}
	want := []string{"run/", "run/sena/", "run/sena/jupyter-token", "workspace/", "workspace/lib/", "workspace/lib/a/", "workspace/lib/a/mod.py", "workspace/lib/b.py", "workspace/top.md"}
	if !slices.Equal(names, want) {
		t.Errorf("tar entries = %q, want %q", names, want)
	}
	if modes["workspace/lib/"] != 0o1777 || modes["run/sena/"] != 0o755 {
		t.Errorf("modes %v: want the work dir's world-writable, Sena's own 0755", modes)
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
