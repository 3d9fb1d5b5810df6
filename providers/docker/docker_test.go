package docker

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/sena-labs/sena/core"
)

// get does an authenticated GET on the sandbox's Jupyter and returns the body.
func get(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestCreateInspectDestroy(t *testing.T) {
	dc := requireDocker(t)
	img := testImage(t)
	p := newProvider(t)
	req := request(t, img)
	destroyOnCleanup(t, p, req.SessionID)

	models := t.TempDir()
	if err := os.WriteFile(filepath.Join(models, "weights.txt"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Labels[core.LabelStateDir] = "abc123"
	req.Spec.Env = map[string]string{"SENA_TEST_SECRET": "s3cret"}
	req.Spec.Mounts = []core.Mount{{Source: models, Target: "/models", ReadOnly: true}}
	req.Spec.Files = map[string][]byte{"lib/helpers.py": []byte("ANSWER = 42\n")}
	req.Spec.CPUs = 1
	req.Spec.MemoryMiB = 1024

	resp, err := p.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	u, err := url.Parse(resp.Endpoint.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("endpoint %q: want http://127.0.0.1:PORT/", resp.Endpoint.URL)
	}

	// Jupyter answers, and only with the token.
	if code, _ := get(t, resp.Endpoint.URL, "api/status", req.JupyterToken); code != http.StatusOK {
		t.Errorf("GET api/status with token: %d", code)
	}
	if code, _ := get(t, resp.Endpoint.URL, "api/status", ""); code != http.StatusForbidden {
		t.Errorf("GET api/status without token: %d, want 403", code)
	}
	// Workspace files are in Jupyter's root.
	if code, body := get(t, resp.Endpoint.URL, "api/contents/lib/helpers.py?content=1", req.JupyterToken); code != http.StatusOK || !strings.Contains(body, "ANSWER = 42") {
		t.Errorf("GET the workspace file: %d %s", code, body)
	}

	// The container: env, read-only mount, limits, labels; no token outside the env.
	info, err := dc.ContainerInspect(t.Context(), resp.Handle.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Config.Env, "SENA_TEST_SECRET=s3cret") {
		t.Errorf("env lacks SENA_TEST_SECRET")
	}
	if strings.Contains(strings.Join(info.Args, " ")+info.Path, req.JupyterToken) || strings.Contains(strings.Join(slices.Collect(maps.Values(info.Config.Labels)), " "), req.JupyterToken) {
		t.Errorf("the token is on the command line or in a label")
	}
	if info.HostConfig.NanoCPUs != 1e9 || info.HostConfig.Memory != 1024<<20 {
		t.Errorf("limits: %d nano-CPUs, %d bytes; want 1 CPU, 1 GiB", info.HostConfig.NanoCPUs, info.HostConfig.Memory)
	}
	if info.Name != "/sena-"+req.SessionID || info.Config.Labels[core.LabelStateDir] != "abc123" || info.Config.Labels[core.LabelManaged] != "true" {
		t.Errorf("name %q labels %v", info.Name, info.Config.Labels)
	}
	if out, err := p.execOutput(t.Context(), resp.Handle.ID, "sh", "-c", "cat /models/weights.txt && ! touch /models/x 2>/dev/null"); err != nil || out != "w" {
		t.Errorf("read-only mount: %q, %v", out, err)
	}

	// A fresh provider (another sena process) finds the sandbox from the handle and labels.
	p2 := newProvider(t)
	ins, err := p2.Inspect(t.Context(), &core.InspectRequest{Handle: resp.Handle})
	if err != nil || ins.Status != core.StatusRunning || ins.Endpoint.URL != resp.Endpoint.URL {
		t.Errorf("Inspect = %+v, %v; want running at %s", ins, err, resp.Endpoint.URL)
	}
	list, err := p2.List(t.Context(), &core.ListRequest{Labels: map[string]string{core.LabelStateDir: "abc123", core.LabelSession: req.SessionID}})
	if err != nil || len(list.Sandboxes) != 1 || list.Sandboxes[0].Handle.ID != resp.Handle.ID || list.Sandboxes[0].Status != core.StatusRunning {
		t.Errorf("List = %+v, %v; want the one running sandbox", list, err)
	}

	if err := p2.Destroy(t.Context(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := p.Inspect(t.Context(), &core.InspectRequest{Handle: resp.Handle}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Inspect after Destroy: %v, want ErrNotFound", err)
	}
	if sb := sandboxes(t, p, req.SessionID); len(sb) != 0 {
		t.Errorf("after Destroy, List finds %+v", sb)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("port %s still open after Destroy", u.Host)
	}
	if err := p.Destroy(t.Context(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
		t.Errorf("second Destroy: %v, want nil (idempotent)", err)
	}
}

func TestTimeoutStopsContainer(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	destroyOnCleanup(t, p, req.SessionID)
	req.Spec.Timeout = 8 * time.Second

	resp, err := p.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ins, err := p.Inspect(t.Context(), &core.InspectRequest{Handle: resp.Handle})
		if err != nil {
			t.Fatal(err)
		}
		if ins.Status == core.StatusStopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still %s 60s after an 8s timeout", ins.Status)
		}
		time.Sleep(time.Second)
	}
}

func TestDerivedImageBuiltOnceAndReused(t *testing.T) {
	dc := requireDocker(t)
	img := testImage(t)
	p := newProvider(t)
	// Packages the test image already has: the build needs no network.
	spec := core.SandboxSpec{Image: img, PythonPackages: []string{"numpy"}, SystemPackages: []string{"coreutils"}}
	base, err := dc.ImageInspect(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	tag := derivedTag(base.ID, derivedDockerfile(img, "", spec.SystemPackages, spec.PythonPackages))
	_, _ = dc.ImageRemove(t.Context(), tag, image.RemoveOptions{}) // start from scratch

	var msgs []string
	progress := func(m string) { msgs = append(msgs, m) }
	got, err := p.resolveImage(t.Context(), &spec, progress)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if got != tag || !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "building "+tag) }) {
		t.Errorf("first resolve = %s, progress %q; want a build of %s", got, msgs, tag)
	}
	msgs = nil
	if got, err := p.resolveImage(t.Context(), &spec, progress); err != nil || got != tag {
		t.Fatalf("second resolve = %s, %v", got, err)
	}
	if slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "building") }) {
		t.Errorf("second resolve rebuilt: %q", msgs)
	}

	// And a sandbox runs on it.
	req := request(t, img)
	req.Spec.PythonPackages, req.Spec.SystemPackages = spec.PythonPackages, spec.SystemPackages
	destroyOnCleanup(t, p, req.SessionID)
	resp, err := p.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create on the derived image: %v", err)
	}
	info, err := dc.ContainerInspect(t.Context(), resp.Handle.ID)
	if err != nil || info.Config.Image != tag {
		t.Errorf("container image = %q, %v; want %s", info.Config.Image, err, tag)
	}
}

func TestBuildFailureShowsFailingStep(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	req.Spec.PythonPackages = []string{"numpy["} // pip rejects it at once, offline
	destroyOnCleanup(t, p, req.SessionID)        // only if the test fails
	_, err := p.Create(t.Context(), req)
	if !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("Create = %v, want ErrInvalidConfig", err)
	}
	t.Logf("the user sees: %v", err)
	for _, want := range []string{"pip install --no-cache-dir 'numpy['", "Invalid requirement", "check the package names"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if sb := sandboxes(t, p, req.SessionID); len(sb) != 0 {
		t.Errorf("failed Create left %+v", sb)
	}
}

func TestGPUWithoutNvidiaRuntime(t *testing.T) {
	dc := requireDocker(t)
	info, err := dc.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Runtimes["nvidia"]; ok {
		t.Skip("this engine has the nvidia runtime")
	}
	p := newProvider(t)
	req := request(t, "sena-no-such-image:1") // the GPU check comes before the image's
	req.Spec.GPU = core.GPU{Kind: "A100", Count: 1}
	destroyOnCleanup(t, p, req.SessionID) // only if the test fails
	_, err = p.Create(t.Context(), req)
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "no nvidia runtime") || !strings.Contains(err.Error(), "NVIDIA Container Toolkit") {
		t.Errorf("Create(--gpu A100) = %v, want ErrUnsupported naming the nvidia runtime and the toolkit", err)
	}
	if sb := sandboxes(t, p, req.SessionID); len(sb) != 0 {
		t.Errorf("failed Create left %+v", sb)
	}
}

func TestMissingImage(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, "sena-no-such-image:1")
	destroyOnCleanup(t, p, req.SessionID) // only if the test fails
	_, err := p.Create(t.Context(), req)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "images/build-test-image") {
		t.Errorf("Create = %v, want ErrInvalidConfig saying how to build an image", err)
	}
	req.Spec.Image = ""
	if _, err := p.Create(t.Context(), req); err == nil || !strings.Contains(err.Error(), "docker build -t "+DefaultImage) {
		t.Errorf("Create with the default image missing = %v, want how to build it", err)
	}
}

func TestJupyterExitRemovesContainerAndShowsLog(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	// The server starts in /workspace, so this package shadows the real one.
	req.Spec.Files = map[string][]byte{
		"jupyter_server/__init__.py":  nil,
		"jupyter_server/serverapp.py": []byte("import sys\nclass ServerApp: pass\ndef launch_new_instance():\n    print('sena-test: broken server', flush=True)\n    sys.exit(3)\n"),
	}
	destroyOnCleanup(t, p, req.SessionID) // only if the test fails
	_, err := p.Create(t.Context(), req)
	t.Logf("the user sees: %v", err)
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "sena-test: broken server") {
		t.Errorf("Create = %v, want the exit status and the container log", err)
	}
	if sb := sandboxes(t, p, req.SessionID); len(sb) != 0 {
		t.Errorf("failed Create left %+v", sb)
	}
}

func TestNoDaemon(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "docker.sock"))
	p := newProvider(t)
	_, err := p.Create(t.Context(), request(t, "any:1"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "is dockerd running?") {
		t.Errorf("Create = %v, want ErrUnavailable asking whether dockerd runs", err)
	}
	if _, err := p.List(t.Context(), &core.ListRequest{}); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("List = %v, want ErrUnavailable", err)
	}
}
