package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// requireDocker skips the test when no Docker engine answers, except in CI
// (env CI set), where a missing engine is a failure.
func requireDocker(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = c.Ping(t.Context())
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a Docker engine (images/ci-docker-up.sh starts one): %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	testImageOnce sync.Once
	testImageRef  string
	testImageErr  error
)

// testImage builds (or reuses) the CPU test image with images/build-test-image.
func testImage(t *testing.T) string {
	t.Helper()
	testImageOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "images", "build-test-image")
		out, err := exec.Command(script).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				err = &buildError{err: err, stderr: string(ee.Stderr)}
			}
			testImageErr = err
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		testImageRef = lines[len(lines)-1]
	})
	if testImageErr != nil {
		t.Fatalf("images/build-test-image: %v", testImageErr)
	}
	return testImageRef
}

// testPythonPackages is build-test-image's PYTHON_PACKAGES: what the offline
// base's Debian packages satisfy.
const testPythonPackages = "jupyter_server ipykernel numpy"

// testBase is the offline base build-test-image made the test image from
// (its sena.test.base label).
func testBase(t *testing.T) string {
	img := testImage(t)
	info, err := requireDocker(t).ImageInspect(t.Context(), img)
	if err != nil || info.Config == nil || info.Config.Labels["sena.test.base"] == "" {
		t.Fatalf("test image %s names no base (label sena.test.base): %v", img, err)
	}
	return info.Config.Labels["sena.test.base"]
}

// kernelOut starts a kernel in the sandbox at url, runs code and returns
// what it printed, trimmed.
func kernelOut(t *testing.T, url, token, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := kernel.NewServer(url, token)
	if err != nil {
		t.Fatal(err)
	}
	js, err := srv.StartSession(ctx, "t-"+randHex(t)+".ipynb", "python3")
	if err != nil {
		t.Fatalf("start a kernel: %v", err)
	}
	k, err := srv.Connect(ctx, js.Kernel.ID)
	if err != nil {
		t.Fatalf("connect to the kernel: %v", err)
	}
	defer k.Close()
	var b strings.Builder
	res, err := k.Execute(ctx, code, &kernel.ExecuteOptions{OnEvent: func(e kernel.Event) {
		if e.Type == "stream" {
			var s struct{ Text string }
			_ = json.Unmarshal(e.Content, &s)
			b.WriteString(s.Text)
		}
	}})
	if err != nil {
		t.Fatalf("execute %q: %v", code, err)
	}
	if res.Status != "ok" {
		return strings.TrimSpace(b.String()) + " [" + res.EName + ": " + res.EValue + "]"
	}
	return strings.TrimSpace(b.String())
}

// uniqueNumpy is a requirement the test image satisfies offline that no
// other test asks for, so a package set with it is a test's own image.
func uniqueNumpy() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("numpy>=0.0.%d", uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
}

// removeImageOnCleanup removes a tag the test made, if it still exists.
func removeImageOnCleanup(t *testing.T, tag string) {
	t.Cleanup(func() {
		c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			return
		}
		defer c.Close()
		// With its untagged parents, which the build made for it alone.
		_, _ = c.ImageRemove(context.WithoutCancel(t.Context()), tag, image.RemoveOptions{PruneChildren: true})
	})
}

type buildError struct {
	err    error
	stderr string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.stderr }

// newProvider returns a fresh provider, as a new sena process would have.
func newProvider(t *testing.T) *Provider {
	t.Helper()
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.(*Provider)
}

// sessionID is unique per test, so tests can run side by side with others'.
func sessionID(t *testing.T) string {
	return "t" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + randHex(t)
}

// request is a minimal valid CreateRequest for the test image.
func request(t *testing.T, image string) *core.CreateRequest {
	id := sessionID(t)
	return &core.CreateRequest{
		SessionID:    id,
		Labels:       map[string]string{core.LabelManaged: "true", core.LabelSession: id},
		JupyterToken: "tok-" + randHex(t),
		Spec:         core.SandboxSpec{Image: image},
		Progress:     func(p core.Progress) { t.Log("progress:", p) },
	}
}

// destroyOnCleanup removes whatever the test leaves, even when it fails early.
func destroyOnCleanup(t *testing.T, p *Provider, sessionID string) {
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		list, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: sessionID}})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, sb := range list.Sandboxes {
			if err := p.Destroy(ctx, &core.DestroyRequest{Handle: sb.Handle}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// sandboxes lists the sandboxes of one session.
func sandboxes(t *testing.T, p *Provider, sessionID string) []core.SandboxInfo {
	t.Helper()
	list, err := p.List(t.Context(), &core.ListRequest{Labels: map[string]string{core.LabelSession: sessionID}})
	if err != nil {
		t.Fatal(err)
	}
	return list.Sandboxes
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
