package mcp

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// One malformed line (random bytes, a line that is not JSON, a number, a
// line over the limit) is answered with a parse error and the server goes
// on answering the requests after it.
func TestStdioSurvivesMalformedLines(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	srv := New(newManager(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.MCP().Run(ctx, StdioTransport(inR, outW)) }()
	lines := bufio.NewScanner(outR)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() map[string]any {
		t.Helper()
		got := make(chan map[string]any, 1)
		go func() {
			var m map[string]any
			if lines.Scan() {
				_ = json.Unmarshal(lines.Bytes(), &m)
			}
			got <- m
		}()
		select {
		case m := <-got:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no answer within 10 s: the server stopped")
			return nil
		}
	}
	send := func(s string) {
		if _, err := inW.Write([]byte(s + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if m := next(); m["id"] != float64(1) || m["result"] == nil {
		t.Fatalf("initialize: %v", m)
	}
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for _, bad := range []string{"\x00\xff\xfegarbage", "hello, server", "12345", `{"unterminated": `, strings.Repeat("x", MaxLineBytes+10)} {
		send(bad)
		m := next()
		e, _ := m["error"].(map[string]any)
		if e["code"] != float64(-32700) || m["id"] != nil {
			t.Fatalf("after %.20q: %v, want a parse error with id null", bad, m)
		}
		send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		if m := next(); m["id"] != float64(2) || m["result"] == nil {
			t.Fatalf("tools/list after %.20q: %v", bad, m)
		}
	}
}
