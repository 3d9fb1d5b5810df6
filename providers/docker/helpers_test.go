package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
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
