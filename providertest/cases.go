package providertest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
)

type suite struct {
	o     Options
	new   func(*testing.T) core.Provider
	mode  string
	first bool // the first mode runs the cases that only wait (idle timeout)
	probe *probeServer
	run0  *testing.T // the mode's test, which outlives its cases
}

func (s *suite) run(t *testing.T) {
	t.Run("Info", s.info)
	t.Run("Lifecycle", s.lifecycle)
	t.Run("Honoured", s.honoured)
	t.Run("Refused", s.refused)
	t.Run("UnsupportedGPU", s.unsupportedGPU)
	t.Run("CancelledCreateLeavesNothing", s.cancelledCreate)
	t.Run("Lifetime", func(t *testing.T) {
		t.Run("Timeout", s.timeout)
		t.Run("IdleTimeout", s.idleTimeout)
	})
}

func (s *suite) providerInfo(t *testing.T, p core.Provider) *core.ProviderInfo {
	t.Helper()
	info, err := p.Info(testContext(t, 30*time.Second))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return info
}

func (s *suite) info(t *testing.T) {
	info := s.providerInfo(t, s.new(t))
	if info.Name == "" || info.Version == "" {
		t.Fatalf("Info must name the provider and its version, got %+v", info)
	}
	for _, k := range info.Capabilities.GPUKinds {
		if _, err := core.ParseGPU(k); err != nil {
			t.Errorf("Info offers GPU kind %q that Sena does not know: %v", k, err)
		}
	}
	for _, f := range info.Capabilities.Fields {
		if !contains(core.FieldNames(core.AllFields), string(f)) {
			t.Errorf("Info declares field %q, which Sena does not know", f)
		}
	}
	if sch := info.Capabilities.OptionsSchema; len(sch) > 0 {
		var v struct {
			Type       string         `json:"type"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(sch, &v); err != nil || v.Type != "object" {
			t.Errorf("the options schema must be a JSON Schema of type object: %v %s", err, sch)
		}
	}
}

// sandbox is one sandbox the suite made, destroyed when the test ends.
type sandbox struct {
	p    core.Provider
	req  *core.CreateRequest
	resp *core.CreateResponse
}

// plan builds a request from a config as `sena up` does, plus what only
// the suite adds: its own marker variable.
func (s *suite) plan(t *testing.T, p core.Provider, cfg core.SandboxConfig) *core.CreateRequest {
	t.Helper()
	info := s.providerInfo(t, p)
	if cfg.Provider == "" {
		cfg.Provider = info.Name
	}
	plan, err := session.PlanSandbox(&cfg, info, nil)
	if err != nil {
		t.Fatalf("PlanSandbox: %v", err)
	}
	id := "conf" + randHex(5)
	work := filepath.Join(t.TempDir(), "work")
	if err := core.PrepareWorkDir(work); err != nil {
		t.Fatal(err)
	}
	plan.Spec.Env["SENA_CONFORMANCE"] = id
	return &core.CreateRequest{
		SessionID:    id,
		Labels:       map[string]string{core.LabelManaged: "true", core.LabelSession: id, core.LabelStateDir: "conformance"},
		Spec:         plan.Spec,
		JupyterToken: randHex(24),
		WorkDir:      work,
	}
}

// baseConfig is Options.Config plus a workspace file when files are honoured.
func (s *suite) baseConfig(t *testing.T, info *core.ProviderInfo) core.SandboxConfig {
	cfg := s.o.Config(t)
	if info.Capabilities.Honours(core.FieldFiles) {
		cfg.Workspace.Libraries = append(cfg.Workspace.Libraries, core.Library{Name: "conformance_probe.py", Code: probeSource})
	}
	return cfg
}

const probeSource = "WHO = 'sena conformance'\n"

// create makes the sandbox and waits until its Jupyter answers (readiness
// is the caller's to wait for, as the contract says).
func (s *suite) create(t *testing.T, p core.Provider, req *core.CreateRequest) *sandbox {
	t.Helper()
	ctx := testContext(t, s.o.Timeout)
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	sb := &sandbox{p: p, req: req, resp: resp}
	t.Cleanup(func() { _ = p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle}) })
	if resp.Handle.ID == "" || resp.Endpoint.URL == "" {
		t.Fatalf("Create returned an empty handle or endpoint: %+v", resp)
	}
	return sb
}

func (s *suite) lifecycle(t *testing.T) {
	p := s.new(t)
	req := s.plan(t, p, s.baseConfig(t, s.providerInfo(t, p)))
	sb := s.create(t, p, req)
	ctx := testContext(t, s.o.Timeout)
	k := connect(t, ctx, sb)

	// The token is required.
	if code := statusWithoutToken(ctx, sb.resp.Endpoint.URL); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("GET /api/status without the token answered %d, want 403", code)
	}
	// The kernel keeps state, sees Env, and finds Files in its directory.
	k.out("x = 20")
	if got := k.out("print(x + 22)"); got != "42" {
		t.Errorf("kernel state: got %q, want 42", got)
	}
	if got := k.out("import os; print(os.environ.get('SENA_CONFORMANCE'))"); got != req.SessionID {
		t.Errorf("Spec.Env not in the kernel: got %q, want %q", got, req.SessionID)
	}
	if req.Spec.Files != nil {
		if got := k.out("print(open('lib/conformance_probe.py').read(), end='')"); got != strings.TrimSpace(probeSource) {
			t.Errorf("Spec.Files not under the kernel's working directory: got %q", got)
		}
	}
	k.close()

	// A fresh instance finds the sandbox from the handle alone.
	h := roundTrip(t, sb.resp.Handle)
	fresh := s.new(t)
	ins, err := fresh.Inspect(ctx, &core.InspectRequest{Handle: h})
	if err != nil || ins.Status != core.StatusRunning {
		t.Fatalf("Inspect from a fresh instance: status %v, err %v; want running", ins, err)
	}
	l, err := fresh.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: req.SessionID}})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(l.Sandboxes) != 1 || l.Sandboxes[0].Handle.ID != sb.resp.Handle.ID {
		t.Fatalf("List by session label found %+v, want exactly the sandbox %s", l.Sandboxes, sb.resp.Handle.ID)
	}
	for k, v := range req.Labels {
		if l.Sandboxes[0].Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, l.Sandboxes[0].Labels[k], v)
		}
	}

	if err := fresh.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if ins, err := fresh.Inspect(ctx, &core.InspectRequest{Handle: h}); err == nil && ins.Status == core.StatusRunning {
		t.Fatalf("Inspect after Destroy still reports running")
	} else if err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Inspect after Destroy: %v, want ErrNotFound or stopped", err)
	}
	if code := statusWithoutToken(ctx, sb.resp.Endpoint.URL); code != 0 {
		t.Errorf("the endpoint still answers (%d) after Destroy", code)
	}
	if err := fresh.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Fatalf("second Destroy must succeed (idempotent): %v", err)
	}
	assertNoneLeft(t, fresh, req.SessionID)
}

// honoured starts one sandbox with every declared field set and checks
// each inside it.
func (s *suite) honoured(t *testing.T) {
	p := s.new(t)
	info := s.providerInfo(t, p)
	caps := info.Capabilities
	cfg := s.o.Config(t)
	var checks []fieldCheck
	for _, c := range s.fieldChecks(t, info) {
		switch {
		case !caps.Honours(c.field):
			checks = append(checks, fieldCheck{field: c.field, skip: "not declared"})
		case s.o.Skip[c.field] != "":
			checks = append(checks, fieldCheck{field: c.field, skip: s.o.Skip[c.field]})
		default:
			if c.config != nil {
				c.config(&cfg)
			}
			checks = append(checks, c)
		}
	}
	req := s.plan(t, p, cfg)
	for _, c := range checks {
		if c.config == nil && c.skip == "" { // what no setting reaches (mounts)
			c.spec(&req.Spec)
		}
	}
	sb := s.create(t, p, req)
	k := connect(t, testContext(t, s.o.Timeout), sb)
	defer k.close()
	for _, c := range checks {
		t.Run(string(c.field), func(t *testing.T) {
			if c.skip != "" {
				t.Skipf("%s: %s", c.field, c.skip)
			}
			if got := k.out(c.code); got != c.want {
				t.Errorf("%s is declared but not honoured: in the sandbox %s printed %q, want %q", c.field, strings.TrimSpace(c.code), got, c.want)
			}
		})
	}
}

// refused asks, through the session manager, for each field the provider
// does not declare: `sena up` must refuse before Create is called.
func (s *suite) refused(t *testing.T) {
	p := NewFaulty(s.new(t))
	info := s.providerInfo(t, p)
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: NewProviders(map[string]core.Provider{info.Name: p})})
	for _, c := range s.fieldChecks(t, info) {
		if info.Capabilities.Honours(c.field) {
			continue
		}
		t.Run(string(c.field), func(t *testing.T) {
			cfg := s.o.Config(t)
			cfg.Provider = info.Name
			if c.field == core.FieldModels && (info.Capabilities.SharesHostFS || info.Capabilities.Honours(core.FieldMounts)) {
				c.config = nil // the host's cache brings them: `sena up` fetches and mounts them
			}
			if c.config != nil {
				c.config(&cfg)
				_, err := m.Up(testContext(t, s.o.Timeout), &cfg)
				if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), string(c.field)) {
					t.Errorf("up with %s, which %s does not declare: %v; want an ErrUnsupported naming it", c.field, info.Name, err)
				}
			}
			spec := core.SandboxSpec{}
			c.spec(&spec)
			if err := info.Capabilities.CheckSpec(info.Name, &spec); !errors.Is(err, core.ErrUnsupported) {
				t.Errorf("CheckSpec with %s: %v, want ErrUnsupported", c.field, err)
			}
		})
	}
	if n := p.Count("Create"); n != 0 {
		t.Errorf("Create was called %d times for configs that ask what %s does not declare", n, info.Name)
	}
	// Asked directly, the provider refuses them too, leaving nothing: a
	// caller that skipped core's check must not get a silently different sandbox.
	for _, c := range s.fieldChecks(t, info) {
		if info.Capabilities.Honours(c.field) {
			continue
		}
		t.Run("Create/"+string(c.field), func(t *testing.T) {
			req := s.plan(t, p, s.o.Config(t))
			c.spec(&req.Spec)
			resp, err := p.Provider.Create(testContext(t, s.o.Timeout), req)
			if err == nil {
				_ = p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle})
				t.Fatalf("Create with %s, which the provider does not declare, succeeded", c.field)
			}
			if !errors.Is(err, core.ErrUnsupported) {
				t.Errorf("Create with %s: %v, want an error wrapping core.ErrUnsupported", c.field, err)
			}
			assertNoneLeft(t, p, req.SessionID)
		})
	}
	if recs, _ := store.List(); len(recs) != 0 {
		t.Errorf("refused configs left %d session records", len(recs))
	}
}

func (s *suite) unsupportedGPU(t *testing.T) {
	p := s.new(t)
	info := s.providerInfo(t, p)
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
	cfg := s.o.Config(t)
	cfg.Provider, cfg.GPU = info.Name, kind
	if _, err := session.PlanSandbox(&cfg, info, nil); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), kind) {
		t.Errorf("planning GPU %s (not offered): %v, want an ErrUnsupported naming it", kind, err)
	}
	// The provider refuses it too when asked directly.
	req := s.plan(t, p, s.o.Config(t))
	req.Spec.GPU = core.GPU{Kind: kind, Count: 1}
	resp, err := p.Create(testContext(t, s.o.Timeout), req)
	if err == nil {
		_ = p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle})
		t.Fatalf("Create with GPU %s (not offered) succeeded", kind)
	}
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), kind) {
		t.Errorf("Create with GPU %s: %v, want an error wrapping core.ErrUnsupported that names it", kind, err)
	}
	assertNoneLeft(t, p, req.SessionID)
}

func (s *suite) cancelledCreate(t *testing.T) {
	p := s.new(t)
	req := s.plan(t, p, s.o.Config(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	resp, err := p.Create(ctx, req)
	if err == nil {
		// Fast providers may finish first; then Destroy must clean up.
		if err := p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
			t.Fatal(err)
		}
	}
	waitNoneLeft(t, p, req.SessionID, 30*time.Second, "a cancelled Create left sandboxes behind")
}

// timeout checks that a sandbox stops by itself at the end of its lifetime.
// It only waits, so it runs in the first mode alone, as idleTimeout does.
func (s *suite) timeout(t *testing.T) {
	if !s.first {
		t.Skip("checked in the first mode; it only waits")
	}
	s.lifetime(t, core.FieldTimeout, 15*time.Second, 60*time.Second, func(c *core.SandboxConfig, d time.Duration) {
		c.Timeout = core.Duration(d)
	})
}

// idleTimeout checks that a sandbox nobody uses stops by itself. It only
// waits, so it runs in the first mode alone.
func (s *suite) idleTimeout(t *testing.T) {
	if !s.first {
		t.Skip("checked in the first mode; it only waits")
	}
	s.lifetime(t, core.FieldIdleTimeout, 10*time.Second, 60*time.Second, func(c *core.SandboxConfig, d time.Duration) {
		c.IdleTimeout = core.Duration(d)
	})
}

func (s *suite) lifetime(t *testing.T, f core.Field, d, grace time.Duration, set func(*core.SandboxConfig, time.Duration)) {
	p := s.new(t)
	info := s.providerInfo(t, p)
	if !info.Capabilities.Honours(f) {
		t.Skipf("%s: not declared (Refused checks that it is refused)", f)
	}
	if why := s.o.Skip[f]; why != "" {
		t.Skipf("%s: %s", f, why)
	}
	t.Parallel()
	cfg := s.o.Config(t)
	set(&cfg, d)
	req := s.plan(t, p, cfg)
	start := time.Now()
	sb := s.create(t, p, req)
	connect(t, testContext(t, s.o.Timeout), sb).close() // it came up
	deadline := start.Add(d + grace)
	for time.Now().Before(deadline) {
		ins, err := p.Inspect(context.Background(), &core.InspectRequest{Handle: sb.resp.Handle})
		if errors.Is(err, core.ErrNotFound) || err == nil && ins.Status != core.StatusRunning {
			if time.Since(start) < d {
				t.Fatalf("%s %s: the sandbox stopped after %s, before its time", f, d, time.Since(start).Round(time.Second))
			}
			t.Logf("%s %s: stopped after %s", f, d, time.Since(start).Round(time.Second))
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s %s is declared but the sandbox still runs %s after it was created", f, d, time.Since(start).Round(time.Second))
}

func assertNoneLeft(t *testing.T, p core.Provider, session string) {
	t.Helper()
	l, err := p.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelSession: session}})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(l.Sandboxes) > 0 {
		t.Fatalf("sandboxes of session %s are left: %+v", session, l.Sandboxes)
	}
}

func waitNoneLeft(t *testing.T, p core.Provider, session string, d time.Duration, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l, err := p.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelSession: session}})
		if err == nil && len(l.Sandboxes) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v (err %v)", msg, l, err)
		}
		time.Sleep(500 * time.Millisecond)
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

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if strings.EqualFold(y, x) {
			return true
		}
	}
	return false
}

// hostDir makes a directory on the host holding one marker file.
func hostDir(t *testing.T, marker string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "marker.txt"), []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
