package mcp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

const iface = `from sena_scoped import expose

@expose
def ask(question: str) -> str:
    """Ask the model a question."""
    return f"{question} -> {len(SECRET)}"

@expose
def add(a: int, b: int = 2) -> int:
    """Add two numbers in the sandbox."""
    if a < 0:
        raise ValueError("a must be positive")
    return a + b

def private():
    return SECRET
`

// A scoped session through the official MCP SDK: the agent sees exactly
// the exposed functions, with schemas from their signatures and docstrings,
// and can call them (in the sandbox's kernel, next to what init code made),
// and nothing else.
func TestScopedSession(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(src), 0o644)
		return p
	}
	opts := map[string]any{"python": py}
	for _, c := range []struct{ src, want string }{
		{"def f(x: int):\n    return x\n", "exposes no functions"},
		{"from sena_scoped import expose\n@expose\ndef f(x):\n    return x\n", "parameter x is annotated"},
		{"from sena_scoped import expose\n@expose\ndef f(*xs: int):\n    return xs\n", "*args"},
	} {
		_, err := m.Up(context.Background(), &core.SandboxConfig{ProviderOptions: opts, Scoped: write("bad.py", c.src)})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalidConfig) {
			t.Errorf("%q: %v, want an error naming %q", c.src, err, c.want)
		}
	}
	if recs, _ := m.Store().List(); len(recs) != 0 {
		t.Errorf("refused ups left %d records", len(recs))
	}

	rec, err := m.Up(context.Background(), &core.SandboxConfig{ProviderOptions: opts, Scoped: write("interface.py", iface),
		Workspace: core.Workspace{InitCode: "SECRET = 'the hidden model'"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Down(context.Background(), rec.ID) })
	if _, err := NewScoped(m, "s000000000000", Options{}); err == nil {
		t.Error("a scoped server for a session that does not exist")
	}
	srv, err := NewScoped(m, rec.ID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, srv, nil)
	tools, err := c.cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if tl.Name == "add" {
			schema := tl.InputSchema.(map[string]any)
			props := schema["properties"].(map[string]any)
			if tl.Description != "Add two numbers in the sandbox." || props["a"].(map[string]any)["type"] != "integer" ||
				!slices.Equal(schema["required"].([]any), []any{"a"}) {
				t.Errorf("add's tool: %q %v", tl.Description, schema)
			}
		}
	}
	if !slices.Equal(names, []string{"add", "ask"}) {
		t.Fatalf("tools offered: %v, want exactly add and ask", names)
	}
	if got := c.ok("add", map[string]any{"a": 3}); got != "5" {
		t.Errorf("add(3) = %s", got)
	}
	if got := c.ok("ask", map[string]any{"question": "who"}); got != `"who -> 16"` {
		t.Errorf("ask = %s", got)
	}
	c.fails("add", map[string]any{"a": -1}, "ValueError: a must be positive")
	c.fails("add", map[string]any{"a": "x"}, "must be integer")
	// Nothing else is reachable: not the notebook tools, not the helper the
	// interface did not expose.
	for _, tool := range []string{"execute_code", "private", "read_file", "list_variables"} {
		if _, err := c.cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"session_id": rec.ID, "code": "print(SECRET)"}}); err == nil {
			t.Errorf("%s is reachable through the scoped server", tool)
		}
	}
	// After a kernel restart the interface is run again on the next call.
	live, err := m.Attach(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	live.Close()
	if got := c.ok("add", map[string]any{"a": 1, "b": 1}); got != "2" {
		t.Errorf("add after a kernel restart = %s", got)
	}
	nb, _ := os.ReadFile(m.Store().NotebookPath(rec.ID))
	if strings.Contains(string(nb), "-> ") {
		t.Error("scoped calls landed in the notebook")
	}
}
