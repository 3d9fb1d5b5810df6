package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerResearch is the research workflows on the Docker provider: a
// read-only bind mount at a relative target, a repo at a tag, then a
// snapshot of the container's work dir and a new container from it.
func TestDockerResearch(t *testing.T) {
	image := testImage(t)
	c := newCLI(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "x.txt"), []byte("host data"), 0o644)
	os.Chmod(dir, 0o755)
	repo := filepath.Join(dir, "probes")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "probes.py"), []byte("LAYER = 5\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}, {"tag", "v1"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	u := c.up("--provider", "docker", "--image", image, "--mount", data+":in:ro", "--repo", "file://"+repo+"@v1")
	out := c.ok("exec", u.SessionID, `import probes, os
print(open('in/x.txt').read(), probes.LAYER, os.getcwd())
try:
    open('in/y.txt', 'w')
except OSError as e:
    print('read-only', e.errno)
_ = open('result.txt', 'w').write('from docker')`)
	if got := strings.TrimSpace(out.stdout); got != "host data 5 /workspace\nread-only 30" {
		t.Fatalf("in the container: %q", got)
	}
	c.ok("snapshot", u.SessionID, "--name", "dock1")
	c.ok("down", u.SessionID)
	u2 := c.up("--provider", "docker", "--image", image, "--from-snapshot", "dock1")
	if got := strings.TrimSpace(c.ok("exec", u2.SessionID, "import os, probes; print(open('result.txt').read(), probes.LAYER, os.path.exists('in'))").stdout); got != "from docker 5 False" {
		t.Fatalf("from the snapshot: %q", got)
	}
}
