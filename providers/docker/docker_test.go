package docker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
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
	req.Spec.Env = map[string]string{"SENA_TEST_SECRET": "s3cret", "SENA_TEST_PLAIN": "plain"}
	req.Spec.SecretNames = []string{"SENA_TEST_SECRET"}
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

	// The kernel has the secret and the plain variable; the container's
	// inspectable config has neither the secret nor the token.
	if got := kernelOut(t, resp.Endpoint.URL, req.JupyterToken, "import os; print(os.environ.get('SENA_TEST_SECRET'), os.environ.get('SENA_TEST_PLAIN'))"); got != "s3cret plain" {
		t.Errorf("kernel env: %q, want the secret and the plain variable", got)
	}
	info, err := dc.ContainerInspect(t.Context(), resp.Handle.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Config.Env, "SENA_TEST_PLAIN=plain") {
		t.Errorf("env lacks SENA_TEST_PLAIN: %q", info.Config.Env)
	}
	raw, _ := json.Marshal(info)
	for _, secret := range []string{req.JupyterToken, "s3cret"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("docker inspect shows %q", secret)
		}
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
	// Packages the test image already has, so the build needs no network;
	// the version floor makes the set, and so the image, this test's own.
	unique := uniqueNumpy()
	spec := core.SandboxSpec{Image: img, PythonPackages: []string{"numpy", unique}, SystemPackages: []string{"coreutils"}}
	base, err := dc.ImageInspect(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	tag := derivedTag(base.ID, base.Config.User, newPackageSet(spec.SystemPackages, spec.PythonPackages))
	removeImageOnCleanup(t, tag)

	var msgs []string
	progress := func(p core.Progress) { msgs = append(msgs, p.String()) }
	got, err := p.withPackages(t.Context(), img, &base, &spec, progress)
	if err != nil {
		t.Fatalf("first build: %v", err)
	}
	if got != tag || !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "building "+tag) }) {
		t.Errorf("first resolve = %s, progress %q; want a build of %s", got, msgs, tag)
	}
	msgs = nil
	// The same packages in another order are the same image.
	spec.PythonPackages = []string{unique, "numpy", "numpy"}
	if got, err := p.withPackages(t.Context(), img, &base, &spec, progress); err != nil || got != tag {
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

// TestGPUEngineWithoutNVIDIA: on an engine that cannot serve GPUs, a GPU
// request fails before anything is built or created, with the engine's own
// refusal translated into what to install.
func TestGPUEngineWithoutNVIDIA(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	req.Spec.GPU = core.GPU{Kind: "A100", Count: 1}
	req.Spec.PythonPackages = []string{"sena-never-built"} // the GPU check comes first
	destroyOnCleanup(t, p, req.SessionID)                  // only if the test fails
	_, err := p.Create(t.Context(), req)
	if err == nil {
		t.Skip("this engine serves GPUs")
	}
	t.Logf("the user sees: %v", err)
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "cannot give containers GPUs") || !strings.Contains(err.Error(), "NVIDIA Container Toolkit") || !strings.Contains(err.Error(), "could not select device driver") {
		t.Errorf("Create(--gpu A100) = %v, want ErrUnsupported with the engine's refusal and what to install", err)
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
}

// TestDefaultImageBuiltOnFirstUse: with no image named and the default one
// missing, Create builds it from the embedded Dockerfile, with progress, and
// runs it; the next Create reuses it. The recipe is the test image's (the
// offline base, no torch), so this is the build Sena does for users.
func TestDefaultImageBuiltOnFirstUse(t *testing.T) {
	dc := requireDocker(t)
	p := newProvider(t)
	p.image = defaultImage{Base: testBase(t), PythonPackages: testPythonPackages}
	ref := p.image.ref()
	if _, err := dc.ImageInspect(t.Context(), ref); err == nil {
		if _, err := dc.ImageRemove(t.Context(), ref, image.RemoveOptions{}); err != nil {
			t.Skipf("the default test image %s is in use by another test: %v", ref, err)
		}
	}
	req := request(t, "")
	var msgs []string
	req.Progress = func(p core.Progress) { msgs = append(msgs, p.String()) }
	destroyOnCleanup(t, p, req.SessionID)
	resp, err := p.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create with the default image missing: %v\nprogress: %q", err, msgs)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "building the default image "+ref) }) ||
		!slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "Step ") }) {
		t.Errorf("progress %q: want the build announced and its steps", msgs)
	}
	info, err := dc.ContainerInspect(t.Context(), resp.Handle.ID)
	if err != nil || info.Config.Image != ref || info.Config.User != "" && info.Config.User != "sena" {
		t.Errorf("container image %q user %q (%v), want %s as sena", info.Config.Image, info.Config.User, err, ref)
	}
	if got := kernelOut(t, resp.Endpoint.URL, req.JupyterToken, "import os, getpass; print(getpass.getuser(), os.environ['HF_HUB_CACHE'], os.environ['PIP_CONSTRAINT'])"); got != "sena /sena/hf-cache /etc/sena/constraints.txt" {
		t.Errorf("in the kernel: %q, want the non-root user, the cache and the constraints", got)
	}
	msgs = nil
	req2 := request(t, "")
	req2.Progress = func(p core.Progress) { msgs = append(msgs, p.String()) }
	destroyOnCleanup(t, p, req2.SessionID)
	if _, err := p.Create(t.Context(), req2); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "building") }) {
		t.Errorf("second Create rebuilt the default image: %q", msgs)
	}
}

// TestDefaultImageBaseUnpullable: where the base cannot be pulled (no
// registry here), the error says so and what to do.
func TestDefaultImageBaseUnpullable(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	p.image = defaultImage{Base: "sena-no-such-registry.invalid/cuda:" + randHex(t), PythonPackages: testPythonPackages}
	req := request(t, "")
	destroyOnCleanup(t, p, req.SessionID)
	_, err := p.Create(t.Context(), req)
	t.Logf("the user sees: %v", err)
	if err == nil || !strings.Contains(err.Error(), "could not pull the base image") {
		t.Errorf("Create = %v, want the pull failure explained", err)
	}
}

func TestJupyterExitRemovesContainerAndShowsLog(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	// The server starts in /workspace, so this package shadows the real one.
	req.Spec.Files = map[string][]byte{
		"jupyter_server/__init__.py":  nil,
		"jupyter_server/serverapp.py": []byte("import sys\nclass ServerApp:\n    def init_webapp(self): pass\n    def start(self): pass\ndef launch_new_instance():\n    print('sena-test: broken server', flush=True)\n    sys.exit(3)\n"),
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

// TestEngineHangs: an engine that accepts connections and never answers
// fails every call within the timeout, as unreachable, saying so.
func TestEngineHangs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // read nothing, answer nothing
		}
	}()
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv(EnvTimeout, "500ms")
	p := newProvider(t)
	start := time.Now()
	_, err = p.List(t.Context(), &core.ListRequest{})
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("List on a hung engine = %v, want ErrUnavailable saying it did not answer", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("List took %s on a hung engine with a 500ms timeout", d)
	}
	if _, err := p.Inspect(t.Context(), &core.InspectRequest{Handle: core.Handle{ID: "x"}}); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Inspect on a hung engine = %v, want ErrUnavailable", err)
	}
}

// TestPipThroughTheHostsCA: a derived image that pip-installs from the
// package index works behind TLS inspection, because the host's CA bundle
// (PIP_CERT here) is passed into the build.
func TestPipThroughTheHostsCA(t *testing.T) {
	dc := requireDocker(t)
	if be, err := hostBuildEnv(); err != nil || be.ca == nil {
		t.Skipf("no CA bundle in the environment (PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE): %v", err)
	}
	img := testImage(t)
	base, err := dc.ImageInspect(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	// iniconfig is small, pure Python and not in the test image.
	spec := core.SandboxSpec{PythonPackages: []string{"iniconfig==2.0.0", uniqueNumpy()}}
	p := newProvider(t)
	tag := derivedTag(base.ID, base.Config.User, newPackageSet(nil, spec.PythonPackages))
	removeImageOnCleanup(t, tag)
	if _, err := p.withPackages(t.Context(), img, &base, &spec, func(p core.Progress) { t.Log("progress:", p) }); err != nil {
		t.Fatalf("pip install from the index in a build: %v", err)
	}
	info, err := dc.ImageInspect(t.Context(), tag)
	if err != nil {
		t.Fatal(err)
	}
	// The proxies and the CA's path reach the build as arguments, not as
	// the image's environment.
	if slices.ContainsFunc(info.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "PIP_CERT=") }) {
		t.Errorf("the image's env %q keeps PIP_CERT", info.Config.Env)
	}
}

// TestPruneImagesOnlyDerived: pruning removes a derived image no container
// uses, keeps one in use, and never touches an image that is not a derived
// one, even tagged like one. Only images with this test's label are
// considered, so others' images are safe.
func TestPruneImagesOnlyDerived(t *testing.T) {
	dc := requireDocker(t)
	img := testImage(t)
	p := newProvider(t)
	scope := map[string]string{"sena.test.prune": randHex(t)}
	derived := func(name string) map[string]string {
		return map[string]string{core.LabelManaged: "true", labelDerivedFrom: img, labelDerivedPackages: "python: " + name, "sena.test.prune": scope["sena.test.prune"]}
	}
	unused, used, other := "sena-derived:t-"+randHex(t), "sena-derived:t-"+randHex(t), "sena-derived:t-"+randHex(t)
	for tag, labels := range map[string]map[string]string{
		unused: derived("unused"), used: derived("used"),
		other: {core.LabelManaged: "true", "sena.test.prune": scope["sena.test.prune"]}, // not a derived image
	} {
		removeImageOnCleanup(t, tag)
		if err := p.buildLabelled(t.Context(), tag, "FROM "+img+"\n", buildEnv{}, nil, labels, func(core.Progress) {}); err != nil {
			t.Fatal(err)
		}
	}
	ctr, err := dc.ContainerCreate(t.Context(), &container.Config{Image: used, Cmd: []string{"true"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dc.ContainerRemove(context.WithoutCancel(t.Context()), ctr.ID, container.RemoveOptions{Force: true})
	})

	rep, err := p.pruneImages(t.Context(), true, 0, scope)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, im := range rep.Images {
		refs = append(refs, im.Ref)
		if im.Removed {
			t.Errorf("a dry run removed %s", im.Ref)
		}
	}
	if slices.Sort(refs); !slices.Equal(refs, slices.Sorted(slices.Values([]string{unused, used}))) || rep.Reclaimable <= 0 {
		t.Errorf("dry run lists %q (reclaimable %d), want the two derived images", refs, rep.Reclaimable)
	}
	if _, err := p.pruneImages(t.Context(), false, 0, scope); err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]bool{unused: false, used: true, other: true} {
		if _, err := dc.ImageInspect(t.Context(), tag); (err == nil) != want {
			t.Errorf("after pruning, %s exists = %v, want %v", tag, err == nil, want)
		}
	}
}
