package session_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/hub"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/providers"
)

// torchPython is an interpreter with Jupyter, torch, transformers and
// peft: what the research-workflow tests run kernels in. Locally a machine
// without one skips; CI (scripts/setup-test-env installs it) fails.
func torchPython(t *testing.T) string {
	t.Helper()
	for _, in := range jupytertest.Interpreters(t) {
		if exec.Command(in.Path, "-c", "import torch, transformers, peft").Run() == nil {
			return in.Path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI: no Python with jupyter_server, torch, transformers and peft (scripts/setup-test-env installs them)")
	}
	t.Skip("no Python with jupyter_server, torch, transformers and peft")
	return ""
}

// researchEnv is a manager on the built-in providers with a test Hub.
type researchEnv struct {
	m     *session.Manager
	store *session.Store
	hub   *hubtest.Server
	cache string
}

func newResearchEnv(t *testing.T) *researchEnv {
	t.Helper()
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &researchEnv{store: store, hub: hubtest.NewServer(t), cache: t.TempDir()}
	e.m = session.NewManager(session.Params{
		Store: store, Providers: providers.NewRegistry(nil, nil),
		Models: hub.NewClient(&hub.Options{Endpoint: e.hub.URL, CacheDir: e.cache}),
	})
	t.Cleanup(func() {
		recs, _ := store.List()
		for _, r := range recs {
			_ = e.m.Down(context.Background(), r.ID)
		}
	})
	return e
}

// up brings a session up and attaches to it; Down runs at cleanup.
func (e *researchEnv) up(t *testing.T, cfg *core.SandboxConfig) (*session.Record, *session.Session) {
	t.Helper()
	rec, err := e.m.Up(context.Background(), cfg)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	s, err := e.m.Attach(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return rec, s
}

// noSessions fails unless the store holds no session and the local
// provider runs no sandbox of it: what a refused up must leave.
func (e *researchEnv) noSessions(t *testing.T) {
	t.Helper()
	recs, _ := e.store.List()
	if len(recs) > 0 {
		t.Errorf("a refused up left %d session records", len(recs))
	}
	all, _ := e.m.List(context.Background(), []string{"local"})
	if len(all) > 0 {
		t.Errorf("a refused up left sandboxes: %+v", all[0])
	}
}

// run executes code, failing the test unless it succeeds, and returns
// what it printed on stdout (transformers' progress bars go to stderr).
func run(t *testing.T, s *session.Session, code string) string {
	t.Helper()
	var out strings.Builder
	ex, err := s.Execute(context.Background(), code, &session.ExecOptions{OnEvent: func(e kernel.Event) {
		var m struct{ Name, Text string }
		if e.Type == "stream" && json.Unmarshal(e.Content, &m) == nil && m.Name == "stdout" {
			out.WriteString(m.Text)
		}
	}})
	if err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	if ex.Result.Status != "ok" {
		t.Fatalf("%s raised %s: %s", code, ex.Result.EName, ex.Result.EValue)
	}
	return strings.TrimSpace(out.String())
}

// writeRepo writes a model repo's files into a directory.
func writeRepo(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readRepo reads a directory's files as a model repo.
func readRepo(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = data
		}
	}
	return files
}

// setJSON rewrites one key of a JSON file in files.
func setJSON(t *testing.T, files map[string][]byte, name, key string, value any) map[string][]byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(files[name], &doc); err != nil {
		t.Fatal(err)
	}
	doc[key] = value
	out := map[string][]byte{}
	for k, v := range files {
		out[k] = v
	}
	out[name], _ = json.Marshal(doc)
	return out
}
