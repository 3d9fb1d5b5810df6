package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// TestScopedMCP is `sena up --scoped interface.py` and then `sena mcp
// --scoped ID` over stdio, driven by the official MCP SDK: the exposed
// function is the only tool, and it runs in the sandbox.
func TestScopedMCP(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	iface := filepath.Join(t.TempDir(), "interface.py")
	os.WriteFile(iface, []byte("from sena_scoped import expose\n\n@expose\ndef square(x: float) -> float:\n    \"\"\"Square x in the sandbox.\"\"\"\n    return x * x\n"), 0o644)
	u := c.up("--python", py, "--scoped", iface)

	cmd := exec.Command(senaBin, "--state-dir", c.state, "mcp", "--scoped", u.SessionID)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != 1 || tools.Tools[0].Name != "square" || tools.Tools[0].Description != "Square x in the sandbox." {
		t.Fatalf("tools: %+v", tools.Tools)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "square", Arguments: map[string]any{"x": 1.5}})
	if err != nil || res.IsError || res.Content[0].(*sdk.TextContent).Text != "2.25" {
		t.Fatalf("square(1.5): %v %+v", err, res)
	}
	if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "execute_code", Arguments: map[string]any{"session_id": u.SessionID, "code": "1"}}); err == nil {
		t.Error("execute_code is reachable through sena mcp --scoped")
	}
	if r := c.run("mcp", "--scoped", "s000000000000"); r.code == 0 || !strings.Contains(r.stderr, "s000000000000") {
		t.Errorf("sena mcp --scoped of no session: exit %d, %s", r.code, r.stderr)
	}
}
