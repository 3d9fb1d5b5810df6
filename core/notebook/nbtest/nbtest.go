// Package nbtest checks, in tests, that notebooks Sena writes are valid
// nbformat 4.5 by the reference implementation, Python's nbformat.
package nbtest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// validateScript validates argv[1] strictly: exactly nbformat 4.5, the 4.5
// schema, and unique cell ids. It loads the raw JSON instead of calling
// nbformat.read, which would repair duplicate ids and hide them.
const validateScript = `
import json, sys, warnings
import nbformat
warnings.simplefilter("error")
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
v = (d.get("nbformat"), d.get("nbformat_minor"))
if v != (4, 5):
    sys.exit("nbformat %r.%r, want 4.5" % v)
ids = [c.get("id") for c in d.get("cells", [])]
dups = sorted({i for i in ids if ids.count(i) > 1}, key=str)
if dups:
    sys.exit("duplicate cell ids: %r" % dups)
nbformat.validate(nbformat.from_dict(d), version=4, version_minor=5)
`

// Validate fails t unless the notebook at path is valid nbformat 4.5
// according to Python's nbformat, with unique cell ids. Without a Python
// that has nbformat it skips, or fails when the CI environment variable is
// set, since CI must run every check.
func Validate(t testing.TB, path string) {
	t.Helper()
	py := Python(t)
	out, err := exec.Command(py, "-c", validateScript, path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s is not a valid nbformat 4.5 notebook (%s, %v):\n%s", path, py, err, out)
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
