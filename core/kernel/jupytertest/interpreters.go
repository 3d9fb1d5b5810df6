// Package jupytertest starts real Jupyter servers for tests across the
// repository. It is test support, not production code: it calls t.Skip or
// t.Fatal itself.
package jupytertest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
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

// Interpreters returns every distinct Python among $SENA_TEST_PYTHONS
// (colon-separated), `python3` on PATH and /usr/bin/python3 that has both
// jupyter_server and ipykernel. Two paths are the same Python when
// sys.prefix and the real sys.executable agree: a venv links to its base
// interpreter yet has its own packages, and pyenv's python3 is a shell
// script. With none it skips the test locally and fails it when $CI is set.
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
	names := map[string]int{}
	var out []Interpreter
	for _, c := range candidates {
		in, key := probe(c)
		if in.Name == "" || seen[key] {
			continue
		}
		seen[key] = true
		// Two interpreters with the same server version would collide as subtest names.
		if names[in.Name]++; names[in.Name] > 1 {
			in.Name += "#" + strconv.Itoa(names[in.Name])
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		need(t, "no Python with jupyter_server and ipykernel among $SENA_TEST_PYTHONS, python3 on PATH, /usr/bin/python3 "+
			"(install: apt-get install python3-jupyter-server python3-ipykernel, or pip install jupyter_server ipykernel)")
	}
	return out
}

type probed struct {
	in  Interpreter // zero if unusable
	key string      // sys.prefix and the real sys.executable
}

var (
	probeMu    sync.Mutex
	probeCache = map[string]probed{} // by path as given
)

// probe asks the interpreter for its jupyter_server version and identity,
// once per process.
func probe(path string) (Interpreter, string) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if p, ok := probeCache[path]; ok {
		return p.in, p.key
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", `import os, sys, jupyter_server, ipykernel
print(jupyter_server.__version__); print(sys.prefix); print(os.path.realpath(sys.executable))`)
	var p probed
	if b, err := cmd.Output(); err == nil {
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) == 3 {
			p.in = Interpreter{Name: "jupyter_server-" + lines[0], Path: path, ServerVersion: lines[0]}
			p.key = lines[1] + "\x00" + lines[2]
		}
	}
	probeCache[path] = p
	return p.in, p.key
}

// need skips the test locally and fails it in CI, where every dependency must be present.
func need(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}
