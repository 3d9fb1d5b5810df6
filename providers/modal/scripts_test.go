package modal

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Python that runs inside Modal is run here too, with stub modules in
// place of huggingface_hub and jupyter_server.

func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	return py
}

func writeStub(t *testing.T, dir, rel, src string) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadScriptFetchesOnce(t *testing.T) {
	py := python(t)
	stubs, vol := t.TempDir(), t.TempDir()
	// snapshot_download logs each call; "gated/model" is refused as the Hub does.
	writeStub(t, stubs, "huggingface_hub/__init__.py", `import os
def snapshot_download(repo_id, revision, local_dir):
    from huggingface_hub.utils import GatedRepoError
    if repo_id == "gated/model":
        raise GatedRepoError("401")
    with open(os.environ["CALLS"], "a") as f:
        f.write(f"{repo_id}@{revision}\n")
    os.makedirs(local_dir, exist_ok=True)
    open(os.path.join(local_dir, "config.json"), "w").write("{}")
`)
	writeStub(t, stubs, "huggingface_hub/utils.py", `class GatedRepoError(Exception): pass
class RepositoryNotFoundError(Exception): pass
class RevisionNotFoundError(Exception): pass
`)
	calls := filepath.Join(t.TempDir(), "calls")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(py, append([]string{"-c", downloadScript}, args...)...)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+stubs, "CALLS="+calls)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	model := filepath.Join(vol, "google--gemma")
	for i := 0; i < 2; i++ {
		if code, out := run("google/gemma", "main", model); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", i, code, out)
		}
	}
	got, _ := os.ReadFile(calls)
	if string(got) != "google/gemma@main\n" {
		t.Errorf("downloads = %q, want one", got)
	}
	if code, out := run("gated/model", "main", filepath.Join(vol, "gated")); code != exitConfig {
		t.Errorf("gated model: exit %d, want %d\n%s", code, exitConfig, out)
	}
}

func TestBootstrapWritesFilesThenExecsJupyter(t *testing.T) {
	py := python(t)
	stubs, root := t.TempDir(), filepath.Join(t.TempDir(), "workspace")
	// The stub "jupyter_server" reports its argv, cwd and the files it sees.
	writeStub(t, stubs, "jupyter_server/__init__.py", "")
	writeStub(t, stubs, "jupyter_server/serverapp.py", `import json, os, sys
def launch_new_instance():
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(),
        "probe": open("lib/probe.py").read(), "big": len(open("big.txt").read())}))
`)
	files := map[string][]byte{
		"lib/probe.py": []byte("print('hi')\n"),
		"big.txt":      []byte(strings.Repeat("x", 3*filesChunk)), // several chunks
	}
	cmd, err := jupyterCommand(files, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if cmd[0] != "python3" || cmd[3] != workDir {
		t.Fatalf("command = %q...", cmd[:4])
	}
	cmd[3] = root // run it here, not in /workspace
	run := exec.Command(py, cmd[1:]...)
	run.Env = append(os.Environ(), "PYTHONPATH="+stubs)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	var got struct {
		Argv  []string
		Cwd   string
		Probe string
		Big   int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("stub output %q: %v", out, err)
	}
	if got.Probe != "print('hi')\n" || got.Big != 3*filesChunk || got.Cwd != root {
		t.Errorf("files or cwd wrong: %+v", got)
	}
	for _, want := range []string{"--ServerApp.port=8888", "--ServerApp.ip=0.0.0.0", fmt.Sprintf("--ServerApp.shutdown_no_activity_timeout=%d", 600)} {
		if !slices.Contains(got.Argv, want) {
			t.Errorf("jupyter_server argv lacks %s: %q", want, got.Argv)
		}
	}
}
