package providertest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel"
)

// kernelConn is a kernel in a sandbox, driven by Sena's one kernel client.
type kernelConn struct {
	t   *testing.T
	ctx context.Context
	k   *kernel.Kernel
}

// connect waits for the sandbox's Jupyter, starts a kernel and connects.
func connect(t *testing.T, ctx context.Context, sb *sandbox) *kernelConn {
	t.Helper()
	srv, err := kernel.NewServer(sb.resp.Endpoint.URL, sb.req.JupyterToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatalf("the sandbox's Jupyter did not become ready: %v", err)
	}
	js, err := srv.StartSession(ctx, "conformance.ipynb", "python3")
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	k, err := srv.Connect(ctx, js.Kernel.ID)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return &kernelConn{t: t, ctx: ctx, k: k}
}

// out runs code and returns what it printed, trimmed; an error fails the test.
func (c *kernelConn) out(code string) string {
	c.t.Helper()
	var b strings.Builder
	res, err := c.k.Execute(c.ctx, code, &kernel.ExecuteOptions{StoreHistory: true, OnEvent: func(e kernel.Event) {
		if e.Type == "stream" {
			var s struct{ Text string }
			_ = json.Unmarshal(e.Content, &s)
			b.WriteString(s.Text)
		}
	}})
	if err != nil {
		c.t.Fatalf("execute %q: %v", code, err)
	}
	if res.Status != "ok" {
		return strings.TrimSpace(b.String()) + " [" + res.EName + ": " + res.EValue + "]"
	}
	return strings.TrimSpace(b.String())
}

func (c *kernelConn) close() { c.k.Close() }
