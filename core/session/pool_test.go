package session_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/providers"
	"github.com/sena-labs/sena/providers/local"
)

// poolFixture is a manager over the local provider (which enforces
// timeouts and idle rules, as pools need) and a keeper run in process.
type poolFixture struct {
	m      *session.Manager
	store  *session.Store
	python string
}

func newPoolFixture(t *testing.T) *poolFixture {
	t.Helper()
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &poolFixture{store: store, python: jupytertest.Interpreters(t)[0].Path}
	f.m = session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)})
	t.Cleanup(func() {
		pools, _ := store.ListPools()
		for _, p := range pools {
			_, _ = f.m.StopPool(context.Background(), p.ID)
		}
		recs, _ := store.List()
		for _, r := range recs {
			_ = f.m.Down(context.Background(), r.ID)
		}
		if left := f.sandboxes(t); len(left) > 0 {
			t.Errorf("sandboxes left running: %+v", left)
		}
	})
	return f
}

func (f *poolFixture) config() *core.SandboxConfig {
	return &core.SandboxConfig{Provider: "local", Python: f.python}
}

// sandboxes are the processes the local provider runs for this store.
func (f *poolFixture) sandboxes(t *testing.T) []core.SandboxInfo {
	t.Helper()
	p, _ := local.New(nil)
	l, err := p.List(context.Background(), &core.ListRequest{Labels: map[string]string{core.LabelStateDir: f.store.Owner()}})
	if err != nil {
		t.Fatal(err)
	}
	return l.Sandboxes
}

// keep runs a keeper for pool id until the test ends or stop is called.
func (f *poolFixture) keep(t *testing.T, id string) (wake chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	wake = make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- f.m.Keep(ctx, id, wake) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("keeper: %v", err)
		}
	}
	t.Cleanup(stop)
	return wake, stop
}

func (f *poolFixture) waitWarm(t *testing.T, id string, n int) session.PoolStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		ps, err := f.m.WaitPool(ctx, id, nil)
		if err != nil {
			t.Fatalf("pool %s: %v", id, err)
		}
		if len(ps.Warm) >= n {
			return ps
		}
	}
}

// TestPoolLifecycle: a pool fills; an up with the same environment takes a
// warm sandbox (its env, secrets, library and init code applied at the
// handover, the notebook clean, the secret nowhere on disk, the warm-up
// code nowhere in the notebook); the keeper refills; an up of another
// environment starts cold; stopping the pool leaves nothing running.
func TestPoolLifecycle(t *testing.T) {
	f := newPoolFixture(t)
	ctx := context.Background()
	p, err := f.m.EnsurePool(ctx, f.config(), session.PoolParams{Count: 1, Lifetime: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := f.keep(t, p.ID)
	ps := f.waitWarm(t, p.ID, 1)
	warmID := ps.Warm[0]
	sbs := f.sandboxes(t)
	if len(sbs) != 1 || sbs[0].Labels[session.LabelPool] != p.ID {
		t.Fatalf("backend: %+v, want one sandbox labelled with pool %s", sbs, p.ID)
	}

	const secret = "s3cr3t-value-0xC0FFEE"
	t.Setenv("POOL_TEST_SECRET", secret)
	lib := filepath.Join(t.TempDir(), "helpers.py")
	os.WriteFile(lib, []byte("ANSWER = 42\n"), 0o600)
	cfg := f.config()
	cfg.Env = map[string]string{"GREETING": "hi"}
	cfg.Secrets = []string{"POOL_TEST_SECRET"}
	cfg.Workspace.Libraries = []core.Library{{Path: lib}}
	cfg.Workspace.InitCode = "import helpers; ready = helpers.ANSWER"
	rec, err := f.m.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != warmID || rec.Warm == nil || rec.Warm.Pool != p.ID || rec.Warm.TakenAt.IsZero() || len(rec.Warm.FillPhases) == 0 {
		t.Fatalf("up did not take the warm sandbox %s: %+v (warm %+v)", warmID, rec, rec.Warm)
	}
	if names := phaseNames(rec.Phases); !slices.Equal(names, []string{"pool_claimed", "handed_over", "ready"}) {
		t.Errorf("phases %v", names)
	}
	s, err := f.m.Attach(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("warm up took %v", rec.Phases)
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(secret)))
	hashed := `__import__("hashlib").sha256(os.environ.get("POOL_TEST_SECRET", "").encode()).hexdigest() == "` + sum + `"`
	check := `import os, helpers; print(os.environ["GREETING"], ` + hashed + `, ready, 'torch' in dir())`
	ex, err := s.Execute(ctx, check, nil)
	if err != nil || ex.Result.Status != "ok" || ex.Cell == nil || !strings.Contains(cellText(ex), "hi True 42 False") {
		t.Fatalf("the session's env, secret, library and init code in the kernel: %+v %v", ex, err)
	}
	// A restarted kernel (a new process) has the env and secret too.
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err = s.Execute(ctx, `import os; print(`+hashed+`, os.environ.get("GREETING"))`, nil)
	if err != nil || !strings.Contains(cellText(ex), "True hi") {
		t.Fatalf("after a restart: %+v %v", ex, err)
	}
	nb, err := s.Notebook()
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, c := range nb.Cells {
		sources = append(sources, c.Source)
	}
	if len(nb.Cells) != 3 || nb.Cells[0].Source != cfg.Workspace.InitCode || string(nb.Metadata["sena"]) == "" {
		t.Errorf("notebook cells %q (want the init code, then the two cells run here), metadata %v", sources, nb.Metadata)
	}
	if files := filesHolding(t, f.store.Dir, secret); len(files) > 0 {
		t.Errorf("the secret's value is written in %v", files)
	}

	// The keeper refills.
	ps = f.waitWarm(t, p.ID, 1)
	if ps.Warm[0] == rec.ID {
		t.Fatalf("refill: %+v", ps)
	}
	// What differs only per session matches; a timeout past the pool's
	// lifetime, or another environment, does not: those start cold.
	again, err := f.m.Up(ctx, &core.SandboxConfig{Provider: "local", Python: f.python, Mode: core.ModeCLI, Timeout: core.Duration(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if again.Warm == nil || again.ID != ps.Warm[0] {
		t.Errorf("a config differing only in per-session settings should take the warm sandbox %s: got %s", ps.Warm[0], again.ID)
	}
	f.waitWarm(t, p.ID, 1)
	long, err := f.m.Up(ctx, &core.SandboxConfig{Provider: "local", Python: f.python, Timeout: core.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if long.Warm != nil {
		t.Errorf("an up whose timeout outlasts the pool took warm sandbox %s", long.ID)
	}
	other := f.config()
	other.PythonPackages = []string{"pip"}
	other.Models = []core.ModelConfig{{Name: "org/m"}}
	e1, _, _ := session.PoolKeys(f.config())
	e2, _, _ := session.PoolKeys(other)
	if e1 == e2 {
		t.Error("configs with other packages and models have the same key")
	}
	if ins := jupytertest.Interpreters(t); len(ins) > 1 {
		diff, err := f.m.Up(ctx, &core.SandboxConfig{Provider: "local", Python: ins[1].Path})
		if err != nil {
			t.Fatal(err)
		}
		if diff.Warm != nil {
			t.Errorf("an up with another interpreter took warm sandbox %s", diff.ID)
		}
	}
	stop()
	if _, err := f.m.StopPool(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	for _, sb := range f.sandboxes(t) {
		if id := sb.Labels[core.LabelSession]; sb.Labels[session.LabelPool] == p.ID && id != rec.ID && id != again.ID {
			t.Errorf("pool sandbox %s still runs after StopPool", sb.Labels[core.LabelSession])
		}
	}
}

func phaseNames(ps []session.Phase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func cellText(ex *session.Execution) string {
	if ex == nil || ex.Cell == nil {
		return ""
	}
	var b strings.Builder
	for _, o := range ex.Cell.Outputs {
		b.WriteString(o.Text)
	}
	return b.String()
}

// filesHolding lists the files under dir that contain s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte(s)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestPoolLifetimeWithoutKeeper: a warm sandbox ends with its pool's
// lifetime even when no keeper (and no sena at all) is left to stop it:
// its provider enforces the deadline it was made with.
func TestPoolLifetimeWithoutKeeper(t *testing.T) {
	f := newPoolFixture(t)
	ctx := context.Background()
	p, err := f.m.EnsurePool(ctx, f.config(), session.PoolParams{Count: 1, Lifetime: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := f.keep(t, p.ID)
	f.waitWarm(t, p.ID, 1)
	stop() // the keeper is gone; its warm sandbox stays, visible, until the deadline
	if n := len(f.sandboxes(t)); n != 1 {
		t.Fatalf("after the keeper stopped: %d sandboxes, want the warm one still running", n)
	}
	for len(f.sandboxes(t)) > 0 {
		if time.Now().After(p.ExpiresAt.Add(20 * time.Second)) {
			t.Fatalf("a warm sandbox outlived its pool's lifetime (%s) by 20 s", p.ExpiresAt.Format(time.TimeOnly))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if time.Now().Before(p.ExpiresAt.Add(-2 * time.Second)) {
		t.Errorf("the warm sandbox ended before its lifetime")
	}
}
