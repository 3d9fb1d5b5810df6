package local

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// wheelhouse writes a real, minimal wheel of package senatiny (VALUE = 42)
// into a fresh folder and points pip at it, offline.
func wheelhouse(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "senatiny-1.0-py3-none-any.whl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := zip.NewWriter(f)
	var record strings.Builder
	add := func(name, body string) {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
		sum := sha256.Sum256([]byte(body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(body))
	}
	add("senatiny/__init__.py", "VALUE = 42\n")
	add("senatiny-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: senatiny\nVersion: 1.0\n")
	add("senatiny-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: sena-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
	w, _ := z.Create("senatiny-1.0.dist-info/RECORD")
	_, _ = w.Write([]byte(record.String() + "senatiny-1.0.dist-info/RECORD,,\n"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PIP_FIND_LINKS", dir)
	t.Setenv("PIP_NO_INDEX", "1")
	t.Setenv("SENA_CACHE_DIR", t.TempDir())
}

// venvPython is a Python with jupyter_server that can make venvs with pip.
func venvPython(t *testing.T) string {
	t.Helper()
	for _, in := range jupytertest.Interpreters(t) {
		out, err := exec.Command(in.Path, "-c", "import venv, ensurepip").CombinedOutput()
		if err == nil {
			return in.Path
		}
		t.Logf("%s cannot make venvs: %s", in.Path, out)
	}
	need(t, "no Jupyter interpreter can make venvs (apt-get install python3-venv)")
	return ""
}

// The cached environment is built once, offline, even by concurrent callers,
// and Create then runs the server from it: --python with packages makes a
// venv on top of the interpreter, which keeps its own jupyter_server.
func TestVenvBuiltOnceOfflineAndReused(t *testing.T) {
	wheelhouse(t)
	base := venvPython(t)
	v := venvSpec{Base: base, Packages: []string{"senatiny"}, SystemSite: true}

	var mu sync.Mutex
	var builds []string // notes that a build starts
	var steps []core.Progress
	progress := func(p core.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Step == "" {
			builds = append(builds, p.Message)
		} else {
			steps = append(steps, p)
		}
	}
	pythons := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range pythons {
		wg.Go(func() { pythons[i], errs[i] = ensureVenv(context.Background(), v, progress) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if len(builds) != 1 || !strings.Contains(builds[0], "creating Python environment") {
		t.Errorf("progress %q, want exactly one build", builds)
	}
	// pip's own output, summarised: the package it collected, then the end.
	var sawPackage bool
	for _, p := range steps {
		sawPackage = sawPackage || p.Step == "python environment" && strings.Contains(p.Message, "senatiny") && p.Unit == "packages" && p.Done >= 1
	}
	if !sawPackage || len(steps) == 0 || !steps[len(steps)-1].Finished {
		t.Errorf("build progress %+v, want pip's senatiny line counted and a finished last report", steps)
	}
	if pythons[0] != pythons[1] || !strings.HasPrefix(pythons[0], filepath.Join(os.Getenv("SENA_CACHE_DIR"), "venvs")) {
		t.Errorf("pythons %q, want one under the cache dir", pythons)
	}
	out, err := exec.Command(pythons[0], "-c", "import jupyter_server, senatiny; print(senatiny.VALUE)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Errorf("jupyter_server and senatiny in the venv: %s %v", out, err)
	}

	// Create finds the same environment without building it again.
	req := request(t, base)
	req.Spec.PythonPackages = []string{"senatiny"}
	req.Progress = progress
	resp := create(t, req)
	if len(builds) != 2 || strings.Contains(builds[1], "creating Python environment") {
		t.Errorf("progress %q, want only the server start after the build", builds)
	}
	s, _ := decodeState(resp.Handle)
	if python := cmdline(s.PID)[0]; python != pythons[0] {
		t.Errorf("server runs %s, want the cached venv's %s", python, pythons[0])
	}
}

func TestVenvKey(t *testing.T) {
	py := venvPython(t)
	key := func(v venvSpec) string {
		k, err := venvKey(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := key(venvSpec{Base: py, Packages: []string{"b", "a"}})
	if b := key(venvSpec{Base: py, Packages: []string{"a", "b", "a"}}); a != b {
		t.Error("package order or repetition changed the key")
	}
	if c := key(venvSpec{Base: py, Packages: []string{"a", "b"}, SystemSite: true}); a == c {
		t.Error("--system-site-packages did not change the key")
	}
	if d := key(venvSpec{Base: py, Packages: []string{"a", "b", "c"}}); a == d {
		t.Error("another package set has the same key")
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		if e := key(venvSpec{Base: "/usr/bin/python3", Packages: []string{"a", "b"}}); a == e {
			t.Error("another interpreter has the same key")
		}
	}
}

func TestVenvMissingPackageLeavesNothing(t *testing.T) {
	wheelhouse(t)
	_, err := ensureVenv(context.Background(), venvSpec{Base: venvPython(t), Packages: []string{"sena-no-such-package"}}, nil)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "sena-no-such-package") || !strings.Contains(err.Error(), "PIP_FIND_LINKS") {
		t.Fatalf("error %v, want ErrInvalidConfig naming the package and the offline fix", err)
	}
	t.Logf("the user reads: %v", err)
	ents, _ := os.ReadDir(filepath.Join(os.Getenv("SENA_CACHE_DIR"), "venvs"))
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("half-built environment left: %s", e.Name())
		}
	}
}
