// Package nbtest checks, in tests, that notebooks Sena writes are valid
// nbformat 4.5 by the reference implementation, Python's nbformat.
//
// Each interpreter runs as one long-lived worker per test binary, because
// importing nbformat can take over a second.
package nbtest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Validate fails t unless the notebook at path is valid nbformat 4.5
// according to Python's nbformat: exactly version 4.5, the 4.5 schema, and
// unique cell ids (checked on the raw JSON, since nbformat.read silently
// repairs duplicates). Without a Python that has nbformat it skips, or fails
// when the CI environment variable is set, since CI must run every check.
func Validate(t testing.TB, path string) {
	t.Helper()
	ValidateWith(t, Python(t), path)
}

// ValidateWith is Validate with a given interpreter, one of Pythons.
func ValidateWith(t testing.TB, python, path string) {
	t.Helper()
	if err := call(python, "validate", path, ""); err != nil {
		t.Fatalf("%s is not a valid nbformat 4.5 notebook (%s):\n%v", path, python, err)
	}
}

// Rewrite reads the notebook at in with python's nbformat.read(in, 4) and
// writes it to out with nbformat.write: the reference for canonical bytes.
func Rewrite(t testing.TB, python, in, out string) {
	t.Helper()
	if err := call(python, "rewrite", in, out); err != nil {
		t.Fatalf("%s: nbformat could not rewrite %s: %v", python, in, err)
	}
}

// Python returns a Python interpreter that can import nbformat: python3 on
// PATH, else /usr/bin/python3 (Debian's python3-nbformat). Without one it
// skips t, or fails it when the CI environment variable is set.
func Python(t testing.TB) string {
	t.Helper()
	all := Pythons()
	if len(all) == 0 {
		msg := "no python3 with nbformat (install python3-nbformat, or pip install nbformat)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return all[0]
}

// Pythons returns every distinct interpreter among python3 on PATH and
// /usr/bin/python3 that can import nbformat, so tests can compare against
// more than one nbformat version.
func Pythons() []string {
	pythonsOnce.Do(func() {
		seen := map[string]bool{}
		for _, name := range []string{"python3", "/usr/bin/python3"} {
			path, err := exec.LookPath(name)
			if err != nil {
				continue
			}
			out, err := exec.Command(path, "-c", "import nbformat, sys; print(sys.prefix, nbformat.__version__)").Output()
			key := strings.TrimSpace(string(out))
			if err != nil || seen[key] {
				continue
			}
			seen[key] = true
			pythons = append(pythons, path)
		}
	})
	return pythons
}

var (
	pythonsOnce sync.Once
	pythons     []string
)
