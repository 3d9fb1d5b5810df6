package mcp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/session"
)

// start_session with resume, mounts, repos and a library (list_libraries), through a real MCP client and a
// real local sandbox: the agent gets the notebook's state back in one call
// and sees the host directory; continue is refused with a bad path.
func TestStartSessionResumeMounts(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	c := connect(t, New(m, Options{Provider: "local", Python: py}), nil)
	dir := t.TempDir()
	nb := notebook.New()
	nb.AddCode("acts = [1, 2, 3]")
	nb.AddCode("total = sum(acts)")
	nbPath := filepath.Join(dir, "exp.ipynb")
	if err := nb.WriteFile(nbPath); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "x.txt"), []byte("host data"), 0o644)

	repo := filepath.Join(dir, "tools")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "tools_lib.py"), []byte("NAME = 'tools'\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	c.fails("start_session", map[string]any{"repos": []any{map[string]any{"url": repo, "ref": "nope"}}}, "ref nope")
	c.fails("start_session", map[string]any{"continue": filepath.Join(dir, "missing.ipynb")}, "missing.ipynb")

	var info SessionInfo
	c.structured("start_session", map[string]any{"resume": nbPath, "mounts": []any{data + ":inputs"}, "repos": []any{repo},
		"workspace": map[string]any{"libraries": []map[string]any{{"name": "probes.py", "code": "\"\"\"Linear probes on activations.\"\"\"\n\ndef fit(acts, labels, l2: float = 0.1):\n    \"\"\"Fit a logistic probe.\n\n    More.\"\"\"\n\ndef _private():\n    pass\n"}}}}, &info)
	t.Cleanup(func() { m.Down(context.Background(), info.SessionID) })
	var libs LibraryList
	c.structured("list_libraries", map[string]any{"session_id": info.SessionID}, &libs)
	if len(libs.Libraries) != 1 || libs.Libraries[0].Module != "probes" || libs.Libraries[0].Doc != "Linear probes on activations." ||
		len(libs.Libraries[0].Members) != 1 || libs.Libraries[0].Members[0].Signature != "fit(acts, labels, l2: float=0.1)" || libs.Libraries[0].Members[0].Doc != "Fit a logistic probe." {
		t.Errorf("list_libraries: %+v", libs)
	}
	if env := info.Environment; env == nil || len(env.Repos) != 1 || len(env.Repos[0].Commit) != 40 {
		t.Errorf("manifest repos: %+v", info.Environment)
	}
	if r := info.Resumed; r == nil || r.Ran != 2 || r.Cells != 2 || r.Failed != 0 {
		t.Fatalf("resumed: %+v", info.Resumed)
	}
	if got := c.ok("execute_code", map[string]any{"session_id": info.SessionID, "code": "import tools_lib; print(total, open('inputs/x.txt').read(), tools_lib.NAME)"}); !strings.Contains(got, "6 host data tools") {
		t.Fatalf("execute_code after resume: %s", got)
	}
}

// execute_code with hidden: true runs in the kernel and records nothing;
// the Go API's ExecOptions.Hidden is the same, and refused for cells.
func TestHiddenExecution(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	c := connect(t, New(m, Options{Provider: "local", Python: py}), nil)
	var info SessionInfo
	c.structured("start_session", map[string]any{}, &info)
	t.Cleanup(func() { m.Down(context.Background(), info.SessionID) })
	before, _ := os.ReadFile(info.NotebookPath)
	got := c.ok("execute_code", map[string]any{"session_id": info.SessionID, "code": "secret_check = 41 + 1\nprint(secret_check)", "hidden": true})
	if !strings.Contains(got, "[ok] (hidden: not recorded in the notebook)") || !strings.Contains(got, "42") {
		t.Fatalf("hidden execute_code: %s", got)
	}
	after, _ := os.ReadFile(info.NotebookPath)
	if string(before) != string(after) {
		t.Error("a hidden execution changed the notebook")
	}
	if got := c.ok("execute_code", map[string]any{"session_id": info.SessionID, "code": "print(secret_check, len(In))"}); !strings.Contains(got, "42 2") {
		t.Errorf("the hidden cell's state, or its absence from the history: %s", got)
	}
	live, err := m.Attach(context.Background(), info.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := live.RunCell(context.Background(), notebook.RefIndex(0), &session.ExecOptions{Hidden: true}); err == nil || !strings.Contains(err.Error(), "only new code") {
		t.Errorf("RunCell hidden: %v", err)
	}
}
