package mcp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
)

// start_session with resume and mounts, through a real MCP client and a
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

	c.fails("start_session", map[string]any{"continue": filepath.Join(dir, "missing.ipynb")}, "missing.ipynb")

	var info SessionInfo
	c.structured("start_session", map[string]any{"resume": nbPath, "mounts": []any{data + ":inputs"}}, &info)
	t.Cleanup(func() { m.Down(context.Background(), info.SessionID) })
	if r := info.Resumed; r == nil || r.Ran != 2 || r.Cells != 2 || r.Failed != 0 {
		t.Fatalf("resumed: %+v", info.Resumed)
	}
	if got := c.ok("execute_code", map[string]any{"session_id": info.SessionID, "code": "print(total, open('inputs/x.txt').read())"}); !strings.Contains(got, "6 host data") {
		t.Fatalf("execute_code after resume: %s", got)
	}
}
