// Package jupytertest starts real Jupyter servers for tests across the
// repository. It is test support, not production code: it calls t.Skip or
// t.Fatal itself.
package jupytertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Interpreter is a Python that can run jupyter_server with an ipykernel.
type Interpreter struct {
	Name          string // short, subtest-friendly: "jupyter_server-2.21.1"
	Path          string // the interpreter's path as found
	ServerVersion string // jupyter_server.__version__
}

var (
	probeMu    sync.Mutex
	probeCache = map[string]Interpreter{} // by real path; empty Name = unusable
)

// Interpreters returns every distinct Python (by real path) among
// $SENA_TEST_PYTHONS (colon-separated), `python3` on PATH and
// /usr/bin/python3 that has both jupyter_server and ipykernel. With none it
// skips the test locally and fails it when $CI is set.
func Interpreters(t testing.TB) []Interpreter {
	t.Helper()
	var candidates []string
	for _, p := range strings.Split(os.Getenv("SENA_TEST_PYTHONS"), ":") {
		if p != "" {
			candidates = append(candidates, p)
		}
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")

	seen := map[string]bool{}
	var out []Interpreter
	for _, c := range candidates {
		real, err := filepath.EvalSymlinks(c)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		if in := probe(c, real); in.Name != "" {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		need(t, "no Python with jupyter_server and ipykernel among $SENA_TEST_PYTHONS, python3 on PATH, /usr/bin/python3 "+
			"(install: apt-get install python3-jupyter-server python3-ipykernel, or pip install jupyter_server ipykernel)")
	}
	// Two interpreters with the same server version would collide as subtest names.
	names := map[string]int{}
	for i := range out {
		names[out[i].Name]++
		if n := names[out[i].Name]; n > 1 {
			out[i].Name += "#" + string(rune('0'+n))
		}
	}
	return out
}

// probe asks the interpreter for its jupyter_server version, once per process.
func probe(path, real string) Interpreter {
	probeMu.Lock()
	defer probeMu.Unlock()
	if in, ok := probeCache[real]; ok {
		return in
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c",
		"import jupyter_server, ipykernel; print(jupyter_server.__version__)")
	var in Interpreter
	if b, err := cmd.Output(); err == nil {
		v := strings.TrimSpace(string(b))
		in = Interpreter{Name: "jupyter_server-" + v, Path: path, ServerVersion: v}
	}
	probeCache[real] = in
	return in
}

// need skips the test locally and fails it in CI, where every dependency must be present.
func need(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}
