package session_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/hub/hubtest"
)

// One local session (a real jupyter_server and kernel) resumes a notebook,
// sees host mounts and reads a model from its own cache_dir; a second
// continues the first's notebook without running it. Bad input is refused
// before anything is created.
func TestResumeContinueMounts(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	e := newResearchEnv(t)
	opts := map[string]any{"python": py}
	dir := t.TempDir()

	src := notebook.New()
	src.AddMarkdown("# the experiment")
	src.AddCode("x = 41")
	src.AddCode("x += 1\nprint(x)")
	src.AddCode("raise ValueError('boom')")
	src.AddCode("y = 1")
	nbPath := filepath.Join(dir, "exp.ipynb")
	if err := src.WriteFile(nbPath); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "probe.txt"), []byte("probe data"), 0o644)
	cfgFile := filepath.Join(dir, "cfg.json")
	os.WriteFile(cfgFile, []byte(`{"layer": 3}`), 0o644)
	e.hub.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	cacheDir := t.TempDir()

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			cfg  core.SandboxConfig
			want string
		}{
			{core.SandboxConfig{Resume: filepath.Join(dir, "none.ipynb")}, "none.ipynb"},
			{core.SandboxConfig{Continue: cfgFile}, "continue"},
			{core.SandboxConfig{Resume: nbPath, Continue: nbPath}, "give one"},
			{core.SandboxConfig{Mode: core.ModeCLI, Resume: nbPath}, "drop mode cli"},
			{core.SandboxConfig{Mounts: []core.MountConfig{{Source: filepath.Join(dir, "missing")}}}, "does not exist"},
			{core.SandboxConfig{Mounts: []core.MountConfig{{Source: data, Target: "../up"}}}, "leave the work dir"},
			{core.SandboxConfig{Mounts: []core.MountConfig{{Source: data, Target: "lib/data"}}}, "Sena writes"},
			{core.SandboxConfig{Mounts: []core.MountConfig{{Source: data, ReadOnly: true}}}, "read-only"},
		} {
			cfg := c.cfg
			cfg.ProviderOptions = opts
			_, err := e.m.Up(context.Background(), &cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrUnsupported) {
				t.Errorf("%+v: %v, want an error naming %q", c.cfg, err, c.want)
			}
		}
		e.noSessions(t)
	})

	rec, s := e.up(t, &core.SandboxConfig{ProviderOptions: opts, Resume: nbPath,
		Mounts: []core.MountConfig{{Source: data}, {Source: cfgFile, Target: "inputs/cfg.json"}},
		Models: []core.ModelConfig{{Name: "sena-test/tiny-llama", CacheDir: cacheDir}}})

	t.Run("resume", func(t *testing.T) {
		r := rec.Resumed
		if r == nil || r.Cells != 4 || r.Ran != 2 || r.Failed != 3 || r.Error != "ValueError: boom" || r.From != nbPath {
			t.Fatalf("resumed %+v; want 2 of 4 cells ran, the 3rd raised ValueError: boom", r)
		}
		if got := run(t, s, "print(x, 'y' in dir())"); got != "42 False" {
			t.Errorf("state after resume: %q, want x=42 and no y (the cells after the failure did not run)", got)
		}
		nb, err := s.Notebook()
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, c := range nb.Cells {
			kinds = append(kinds, c.Type+":"+strings.SplitN(c.Source, "\n", 2)[0])
		}
		if got := strings.Join(kinds, "|"); !strings.Contains(got, "markdown:# the experiment|code:x = 41|code:x += 1|code:raise ValueError('boom')|code:print(x") {
			t.Errorf("the session's notebook: %s; want the resumed cells, then the new one", got)
		}
	})

	t.Run("mounts and cache_dir", func(t *testing.T) {
		got := run(t, s, `import os
print(open('mounts/data/probe.txt').read(), open('inputs/cfg.json').read())
open('mounts/data/out.txt', 'w').write('from the kernel')
print(os.environ['MODEL_SENA_TEST_TINY_LLAMA_PATH'])`)
		lines := strings.Split(got, "\n")
		if len(lines) != 2 || lines[0] != `probe data {"layer": 3}` {
			t.Fatalf("mounts in the kernel: %q", got)
		}
		if b, _ := os.ReadFile(filepath.Join(data, "out.txt")); string(b) != "from the kernel" {
			t.Errorf("a file the kernel wrote in a mount is not on the host: %q", b)
		}
		real, _ := filepath.EvalSymlinks(cacheDir)
		if !strings.HasPrefix(lines[1], cacheDir) && !strings.HasPrefix(lines[1], real) {
			t.Errorf("model path %s is not in its cache_dir %s", lines[1], cacheDir)
		}
		if _, err := os.Stat(filepath.Join(cacheDir, "models--sena-test--tiny-llama")); err != nil {
			t.Errorf("the model was not downloaded into its cache_dir: %v", err)
		}
	})

	t.Run("continue", func(t *testing.T) {
		before, err := s.Notebook()
		if err != nil {
			t.Fatal(err)
		}
		rec2, s2 := e.up(t, &core.SandboxConfig{ProviderOptions: opts, Continue: e.store.NotebookPath(rec.ID)})
		if rec2.Resumed != nil {
			t.Errorf("continue re-ran cells: %+v", rec2.Resumed)
		}
		if got := run(t, s2, "print('x' in dir())"); got != "False" {
			t.Errorf("continue ran the notebook's cells: x defined = %s", got)
		}
		nb, err := s2.Notebook()
		if err != nil {
			t.Fatal(err)
		}
		if len(nb.Cells) != len(before.Cells)+1 || nb.Cells[1].Source != "x = 41" || len(nb.Cells[2].Outputs) == 0 ||
			nb.Cells[len(nb.Cells)-1].Source != "print('x' in dir())" {
			t.Errorf("continued notebook: %d cells (before %d); want the old cells with their outputs, then the new one", len(nb.Cells), len(before.Cells))
		}
	})
}
