// Package providertest is the conformance suite every Sena provider passes,
// in-process and through the plugin boundary. Third-party provider authors
// run it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Options{
//			New:  func(t *testing.T) core.Provider { p, _ := myprovider.New(nil); return p },
//			Spec: func(t *testing.T) core.SandboxSpec { return core.SandboxSpec{Image: "my-image"} },
//		})
//	}
//
// It starts real sandboxes and drives their Jupyter with Sena's kernel client.
package providertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// Options configure the suite for one provider.
type Options struct {
	// New returns a provider instance. The suite calls it more than once to
	// check that a Handle works in a fresh instance (providers are stateless).
	New func(t *testing.T) core.Provider
	// Spec is the base spec every sandbox gets (an image, a Python).
	Spec func(t *testing.T) core.SandboxSpec
	// Timeout bounds each sandbox's start (default 3 minutes).
	Timeout time.Duration
}

// Run runs the conformance suite.
func Run(t *testing.T, o Options) {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Spec == nil {
		o.Spec = func(*testing.T) core.SandboxSpec { return core.SandboxSpec{} }
	}
	s := &suite{o: o}
	t.Run("Info", s.info)
	t.Run("Lifecycle", s.lifecycle)
	t.Run("UnsupportedGPU", s.unsupportedGPU)
	t.Run("CancelledCreateLeavesNothing", s.cancelledCreate)
}

type suite struct{ o Options }

func (s *suite) info(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	info, err := s.o.New(t).Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Name == "" || info.Version == "" {
		t.Fatalf("Info must name the provider and its version, got %+v", info)
	}
	for _, k := range info.Capabilities.GPUKinds {
		if _, err := core.ParseGPU(k); err != nil {
			t.Errorf("Info offers GPU kind %q that Sena does not know: %v", k, err)
		}
	}
}

// request builds a CreateRequest with a fresh session id and token.
func (s *suite) request(t *testing.T) *core.CreateRequest {
	id := "conf" + randHex(5)
	spec := s.o.Spec(t)
	if spec.Env == nil {
		spec.Env = map[string]string{}
	}
	spec.Env["SENA_CONFORMANCE"] = id
	spec.Files = map[string][]byte{"data/hello.txt": []byte("hello from " + id)}
	return &core.CreateRequest{
		SessionID:    id,
		Labels:       map[string]string{core.LabelManaged: "true", core.LabelSession: id, core.LabelStateDir: "conformance"},
		Spec:         spec,
		JupyterToken: randHex(24),
		WorkDir:      t.TempDir(),
	}
}

func (s *suite) lifecycle(t *testing.T) {
	p := s.o.New(t)
	req := s.request(t)
	ctx := testContext(t, s.o.Timeout)
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle})
		}
	})
	if resp.Handle.ID == "" || resp.Endpoint.URL == "" {
		t.Fatalf("Create returned an empty handle or endpoint: %+v", resp)
	}

	// The token is required.
	if code := statusWithoutToken(ctx, resp.Endpoint.URL); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("GET /api/status without the token answered %d, want 403", code)
	}

	// The kernel client drives the sandbox: env, files, state.
	runKernel(t, ctx, resp.Endpoint.URL, req)

	// A fresh instance finds the sandbox from the handle alone.
	h := roundTrip(t, resp.Handle)
	fresh := s.o.New(t)
	ins, err := fresh.Inspect(ctx, &core.InspectRequest{Handle: h})
	if err != nil || ins.Status != core.StatusRunning {
		t.Fatalf("Inspect from a fresh instance: status %v, err %v; want running", ins, err)
	}
	l, err := fresh.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: req.SessionID}})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(l.Sandboxes) != 1 || l.Sandboxes[0].Handle.ID != resp.Handle.ID {
		t.Fatalf("List by session label found %+v, want exactly the sandbox %s", l.Sandboxes, resp.Handle.ID)
	}
	for k, v := range req.Labels {
		if l.Sandboxes[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, l.Sandboxes[0].Labels[k], v)
		}
	}

	if err := fresh.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	destroyed = true
	if ins, err := fresh.Inspect(ctx, &core.InspectRequest{Handle: h}); err == nil && ins.Status == core.StatusRunning {
		t.Fatalf("Inspect after Destroy still reports running")
	} else if err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Inspect after Destroy: %v, want ErrNotFound or stopped", err)
	}
	if code := statusWithoutToken(ctx, resp.Endpoint.URL); code != 0 {
		t.Errorf("the endpoint still answers (%d) after Destroy", code)
	}
	if err := fresh.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Fatalf("second Destroy must succeed (idempotent): %v", err)
	}
	assertNoneLeft(t, fresh, req.SessionID)
}

// runKernel checks the sandbox with the one kernel client.
func runKernel(t *testing.T, ctx context.Context, endpoint string, req *core.CreateRequest) {
	t.Helper()
	srv, err := kernel.NewServer(endpoint, req.JupyterToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	js, err := srv.StartSession(ctx, "conformance.ipynb", "python3")
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	k, err := srv.Connect(ctx, js.Kernel.ID)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer k.Close()
	out := func(code string) string {
		t.Helper()
		var b strings.Builder
		res, err := k.Execute(ctx, code, &kernel.ExecuteOptions{StoreHistory: true, OnEvent: func(e kernel.Event) {
			if e.Type == "stream" {
				var s struct{ Text string }
				_ = json.Unmarshal(e.Content, &s)
				b.WriteString(s.Text)
			}
		}})
		if err != nil || res.Status != "ok" {
			t.Fatalf("execute %q: %+v %v", code, res, err)
		}
		return strings.TrimSpace(b.String())
	}
	out("x = 20")
	if got := out("print(x + 22)"); got != "42" {
		t.Errorf("kernel state: got %q, want 42", got)
	}
	if got := out("import os; print(os.environ.get('SENA_CONFORMANCE'))"); got != req.Spec.Env["SENA_CONFORMANCE"] {
		t.Errorf("Spec.Env not in the kernel: got %q", got)
	}
	if got := out("print(open('data/hello.txt').read())"); got != string(req.Spec.Files["data/hello.txt"]) {
		t.Errorf("Spec.Files not in the working directory: got %q", got)
	}
}

func (s *suite) unsupportedGPU(t *testing.T) {
	p := s.o.New(t)
	ctx := testContext(t, time.Minute)
	info, err := p.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kind string
	for _, k := range core.KnownGPUKinds {
		if !contains(info.Capabilities.GPUKinds, k) {
			kind = k
			break
		}
	}
	if kind == "" {
		t.Skip("the provider offers every GPU kind Sena knows")
	}
	req := s.request(t)
	req.Spec.GPU = core.GPU{Kind: kind, Count: 1}
	resp, err := p.Create(ctx, req)
	if err == nil {
		_ = p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle})
		t.Fatalf("Create with GPU %s (not offered) succeeded", kind)
	}
	if !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("Create with GPU %s: %v, want an error wrapping core.ErrUnsupported", kind, err)
	}
	if !strings.Contains(err.Error(), kind) {
		t.Errorf("the error should name the GPU kind %s: %v", kind, err)
	}
	assertNoneLeft(t, p, req.SessionID)
}

func (s *suite) cancelledCreate(t *testing.T) {
	p := s.o.New(t)
	req := s.request(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	resp, err := p.Create(ctx, req)
	if err == nil {
		// Fast providers may finish first; then Destroy must clean up.
		if err := p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
			t.Fatal(err)
		}
	}
	// Give a provider's own cleanup a moment to finish on the backend.
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := p.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelSession: req.SessionID}})
		if err == nil && len(l.Sandboxes) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a cancelled Create left sandboxes behind: %+v (err %v)", l, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func assertNoneLeft(t *testing.T, p core.Provider, session string) {
	t.Helper()
	l, err := p.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelSession: session}})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, sb := range l.Sandboxes {
		if sb.Status == core.StatusRunning {
			t.Fatalf("sandbox %s of session %s is still running", sb.Handle.ID, session)
		}
	}
	if len(l.Sandboxes) > 0 {
		t.Fatalf("sandboxes of session %s are left: %+v", session, l.Sandboxes)
	}
}

// statusWithoutToken returns the HTTP status of an unauthenticated request,
// or 0 when nothing answers.
func statusWithoutToken(ctx context.Context, endpoint string) int {
	u, err := url.JoinPath(endpoint, "api", "status")
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func roundTrip(t *testing.T, h core.Handle) core.Handle {
	t.Helper()
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out core.Handle
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.EqualFold(y, x) {
			return true
		}
	}
	return false
}
