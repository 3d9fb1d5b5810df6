package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/examples/miniprovider"
	"github.com/sena-labs/sena/providertest"
)

// The manager's own tests, over the example provider (real jupyter_server
// processes) wrapped to record and fail calls.

type fixture struct {
	m      *session.Manager
	store  *session.Store
	prov   *providertest.Faulty
	provs  *providertest.Providers
	python string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mini, err := miniprovider.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, prov: providertest.NewFaulty(mini), python: jupytertest.Interpreters(t)[0].Path}
	f.provs = providertest.NewProviders(map[string]core.Provider{"mini": f.prov})
	f.m = session.NewManager(session.Params{Store: store, Providers: f.provs})
	t.Cleanup(func() {
		recs, _ := store.List()
		for _, r := range recs {
			_ = f.m.Down(context.Background(), r.ID)
		}
	})
	return f
}

func (f *fixture) config() *core.SandboxConfig {
	return &core.SandboxConfig{Provider: "mini", ProviderOptions: map[string]any{"python": f.python}}
}

// sandboxes lists what the backend runs for this store.
func (f *fixture) sandboxes(t *testing.T) []core.SandboxInfo {
	t.Helper()
	l, err := f.prov.Provider.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelStateDir: f.store.Owner()}})
	if err != nil {
		t.Fatal(err)
	}
	return l.Sandboxes
}

func TestUpAndDown(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.Env = map[string]string{"GREETING": "hi"}
	rec, err := f.m.Up(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != session.RecordVersion || rec.State != session.StateReady || rec.KernelID == "" {
		t.Errorf("record %+v", rec)
	}
	var names []string
	for _, p := range rec.Phases {
		names = append(names, p.Name)
	}
	if want := []string{"sandbox_created", "jupyter_ready", "kernel_ready", "environment_checked", "ready"}; !slices.Equal(names, want) {
		t.Errorf("phases %v, want %v", names, want)
	}
	sbs := f.sandboxes(t)
	if len(sbs) != 1 || sbs[0].Labels[core.LabelSession] != rec.ID || sbs[0].Labels[core.LabelManaged] != "true" {
		t.Fatalf("backend has %+v", sbs)
	}
	s, err := f.m.Attach(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Execute(context.Background(), "import os; print(os.environ['GREETING'])", nil)
	s.Close()
	if err != nil || ex.Result.Status != "ok" {
		t.Fatalf("execute: %+v %v", ex, err)
	}
	work := f.store.SandboxDir(rec.ID)
	if _, err := os.Stat(work); err != nil {
		t.Fatalf("work dir: %v", err)
	}
	if err := f.m.Down(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get(rec.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("record after down: %v", err)
	}
	if _, err := os.Stat(work); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir after down: %v", err)
	}
	if _, err := os.Stat(f.store.NotebookPath(rec.ID)); err != nil {
		t.Errorf("the notebook mirror must outlive the session: %v", err)
	}
	if len(f.sandboxes(t)) != 0 {
		t.Errorf("sandboxes left after down: %+v", f.sandboxes(t))
	}
}

// A failure at any step leaves no record, no sandbox and no work dir.
func TestFailedUpCleansUp(t *testing.T) {
	f := newFixture(t)
	cases := map[string]func(*core.SandboxConfig){
		"create fails":     func(*core.SandboxConfig) { f.prov.FailOn("Create", core.Errorf(core.ErrUnavailable, "backend down")) },
		"init code raises": func(c *core.SandboxConfig) { c.Workspace.InitCode = "raise RuntimeError('no')" },
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := f.config()
			setup(cfg)
			defer f.prov.FailOn("Create", nil)
			if _, err := f.m.Up(context.Background(), cfg); err == nil {
				t.Fatal("up succeeded")
			}
			if recs, _ := f.store.List(); len(recs) != 0 {
				t.Errorf("records left: %+v", recs)
			}
			if sbs := f.sandboxes(t); len(sbs) != 0 {
				t.Errorf("sandboxes left: %+v", sbs)
			}
			if dirs, _ := os.ReadDir(filepath.Join(f.store.Dir, "sandboxes")); len(dirs) != 0 {
				t.Errorf("work dirs left: %v", dirs)
			}
		})
	}
}

// When the cleanup itself cannot stop the sandbox, the record stays so that
// `sena down` (or gc) can, and the error says what failed.
func TestFailedCleanupKeepsRecord(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.Workspace.InitCode = "raise RuntimeError('no')"
	f.prov.FailOn("Destroy", core.Errorf(core.ErrUnavailable, "backend unreachable"))
	if _, err := f.m.Up(context.Background(), cfg); err == nil {
		t.Fatal("up succeeded")
	}
	recs, _ := f.store.List()
	if len(recs) != 1 {
		t.Fatalf("records %+v, want the one whose sandbox could not be stopped", recs)
	}
	f.prov.FailOn("Destroy", nil)
	if err := f.m.Down(context.Background(), recs[0].ID); err != nil {
		t.Fatal(err)
	}
	if sbs := f.sandboxes(t); len(sbs) != 0 {
		t.Errorf("sandboxes left: %+v", sbs)
	}
}

// A record without a handle (its up died after Create but before saving)
// is stopped by label.
func TestDownByLabel(t *testing.T) {
	f := newFixture(t)
	rec, err := f.m.Up(context.Background(), f.config())
	if err != nil {
		t.Fatal(err)
	}
	rec.Handle = core.Handle{}
	if err := f.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Down(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if sbs := f.sandboxes(t); len(sbs) != 0 {
		t.Errorf("down by label left %+v", sbs)
	}
}

// A record without a handle is an up still in Create (a batch job in its
// queue): ls shows what the backend lists for its session, not unknown.
func TestListRecordStillInCreate(t *testing.T) {
	f := newFixture(t)
	rec, err := f.m.Up(context.Background(), f.config())
	if err != nil {
		t.Fatal(err)
	}
	rec.Handle, rec.State = core.Handle{}, session.StateStarting
	if err := f.store.Put(rec); err != nil {
		t.Fatal(err)
	}
	all, errs := f.m.List(context.Background(), []string{"mini"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(all) != 1 || all[0].ID != rec.ID || all[0].Orphan || all[0].Status != core.StatusRunning {
		t.Fatalf("List = %+v, want the record, running as the backend lists it", all)
	}
}

// gc removes sandboxes no record owns and sessions whose up died, and
// nothing else.
func TestGC(t *testing.T) {
	f := newFixture(t)
	keep, err := f.m.Up(context.Background(), f.config())
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := f.m.Up(context.Background(), f.config())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(orphan.ID); err != nil { // as if its record were lost
		t.Fatal(err)
	}
	dead, err := f.m.Up(context.Background(), f.config())
	if err != nil {
		t.Fatal(err)
	}
	dead.State, dead.UpOwner = session.StateStarting, "999999999:0" // an up whose process is gone
	if err := f.store.Put(dead); err != nil {
		t.Fatal(err)
	}
	removed, errs := f.m.GC(context.Background(), []string{"mini"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var ids []string
	for _, r := range removed {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	want := []string{orphan.ID, dead.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("gc removed %v, want %v", ids, want)
	}
	sbs := f.sandboxes(t)
	if len(sbs) != 1 || sbs[0].Labels[core.LabelSession] != keep.ID {
		t.Fatalf("after gc the backend has %+v, want only %s", sbs, keep.ID)
	}
}

// pass_env reaches the provider's Open at up and again at down; it is not
// an option of the provider's own.
func TestPassEnvOpensThePlugin(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.ProviderOptions["pass_env"] = "MY_TOKEN, OTHER"
	rec, err := f.m.Up(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.provs.PassEnv["mini"]; !slices.Equal(got, []string{"MY_TOKEN", "OTHER"}) {
		t.Errorf("up opened the provider with pass_env %v", got)
	}
	f.provs.PassEnv["mini"] = nil
	if err := f.m.Down(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.provs.PassEnv["mini"]; !slices.Equal(got, []string{"MY_TOKEN", "OTHER"}) {
		t.Errorf("down opened the provider with pass_env %v", got)
	}
	cfg = f.config()
	cfg.ProviderOptions["pass_env"] = "not a name"
	if _, err := f.m.Up(context.Background(), cfg); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("a malformed pass_env: %v", err)
	}
}

// Records carry their format: an older one is read, a newer one refused.
func TestRecordVersions(t *testing.T) {
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(id string, v any) {
		data, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(store.Dir, "sessions", id+".json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Format 1 had no version and the interpreter in config.python.
	write("sold", map[string]any{"id": "sold", "provider": "local", "state": "ready", "config": map[string]any{"python": "/usr/bin/python3"}, "created_at": time.Now()})
	old, err := store.Get("sold")
	if err != nil {
		t.Fatal(err)
	}
	if old.Version != session.RecordVersion || old.Config.ProviderOptions["python"] != "/usr/bin/python3" || old.Config.Python != "" {
		t.Errorf("upgraded record %+v", old.Config)
	}
	write("snew", map[string]any{"version": session.RecordVersion + 1, "id": "snew"})
	if _, err := store.Get("snew"); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a record of a newer format: %v", err)
	}
}

// reopening serves a dying plugin first, then healthy ones: a plugin that
// dies during Create leaves its sandbox, which only a fresh plugin can find.
type reopening struct {
	first, later core.Provider
	opens        int
}

func (r *reopening) Open(context.Context, string, []string) (core.Provider, func(), error) {
	r.opens++
	if r.opens == 1 {
		return r.first, func() {}, nil
	}
	return r.later, func() {}, nil
}
func (r *reopening) Names() []string { return []string{"mini"} }

func TestPluginDiedDuringCreate(t *testing.T) {
	f := newFixture(t)
	died := core.Errorf(core.ErrPluginFailed, "provider plugin mini exited")
	dying := providertest.NewFaulty(f.prov.Provider)
	dying.FailAfter("Create", died) // the sandbox exists; the plugin is gone
	dying.FailOn("List", died)
	dying.FailOn("Destroy", died)

	t.Run("a fresh plugin cleans up", func(t *testing.T) {
		m := session.NewManager(session.Params{Store: f.store, Providers: &reopening{first: dying, later: f.prov}})
		if _, err := m.Up(context.Background(), f.config()); !errors.Is(err, core.ErrPluginFailed) {
			t.Fatalf("up: %v", err)
		}
		if sbs := f.sandboxes(t); len(sbs) != 0 {
			t.Errorf("the sandbox the dead plugin made is left: %+v", sbs)
		}
		if recs, _ := f.store.List(); len(recs) != 0 {
			t.Errorf("records left: %+v", recs)
		}
	})
	t.Run("unconfirmed cleanup keeps an abandoned record for gc", func(t *testing.T) {
		m := session.NewManager(session.Params{Store: f.store, Providers: &reopening{first: dying, later: dying}})
		_, err := m.Up(context.Background(), f.config())
		if err == nil || !strings.Contains(err.Error(), "sena gc") {
			t.Fatalf("up: %v; want the error to say sena gc", err)
		}
		recs, _ := f.store.List()
		if len(recs) != 1 || recs[0].State != session.StateAbandoned {
			t.Fatalf("records %+v, want one abandoned", recs)
		}
		removed, errs := f.m.GC(context.Background(), []string{"mini"})
		if len(errs) > 0 || len(removed) != 1 || len(f.sandboxes(t)) != 0 {
			t.Fatalf("gc removed %+v (errs %v), left %+v", removed, errs, f.sandboxes(t))
		}
	})
}
