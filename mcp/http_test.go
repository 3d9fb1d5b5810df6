package mcp

import (
	"context"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

type bearer struct{ scheme, token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.scheme+" "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

const testToken = "tok-0123456789abcdef0123456789abcdef"

// TestHTTPNeedsToken serves over streamable HTTP: a client with the token
// calls tools, one without is turned away.
func TestHTTPNeedsToken(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := New(newManager(t), Options{})
	ready := make(chan string, 1)
	go srv.ServeHTTP(ctx, HTTPOptions{Addr: "127.0.0.1:0", Token: testToken, Ready: func(u string) { ready <- u }})
	url := <-ready

	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d, want 401", resp.StatusCode)
	}

	// The scheme is case-insensitive (RFC 6750).
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "t"}, nil).Connect(ctx,
			&sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{scheme, testToken}}}, nil)
		if err != nil {
			t.Fatalf("scheme %q: %v", scheme, err)
		}
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "list_sessions", Arguments: map[string]any{}})
		cs.Close()
		if err != nil || res.IsError {
			t.Fatalf("list_sessions over HTTP: %v %v", err, res)
		}
	}

	_, err = sdk.NewClient(&sdk.Implementation{Name: "t"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{"Bearer", "wrong"}}}, nil)
	if err == nil {
		t.Fatal("a wrong token connected")
	}
}

// A short bearer token is refused: it would be the only guard of a server
// that runs any code.
func TestHTTPRefusesShortToken(t *testing.T) {
	srv := New(newManager(t), Options{})
	err := srv.ServeHTTP(context.Background(), HTTPOptions{Addr: "127.0.0.1:0", Token: "tok-123"})
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("a 7-byte token: %v", err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false} {
		if err := checkLoopback(addr, false); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", addr, err)
		}
		if err := checkLoopback(addr, true); err != nil {
			t.Errorf("checkLoopback(%q, allowRemote) = %v", addr, err)
		}
	}
}

func TestClip(t *testing.T) {
	s := "héllo wörld, this is a long line of text"
	got := clip(s, 20, "cell 3 of x.ipynb")
	if got == s || len(got) > 20+80 {
		t.Fatalf("clip: %q", got)
	}
	if clip("short", 20, "") != "short" {
		t.Fatal("short text was changed")
	}
}
