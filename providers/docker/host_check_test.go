package docker

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel"
)

// A container's Jupyter keeps its Host check (jupyter_server drops it when
// listening on all interfaces): a page on another origin that resolves its
// name to 127.0.0.1 (DNS rebinding) is refused even with the port right.
func TestJupyterKeepsHostCheck(t *testing.T) {
	requireDocker(t)
	p := newProvider(t)
	req := request(t, testImage(t))
	req.WorkDir = t.TempDir()
	destroyOnCleanup(t, p, req.SessionID)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := kernel.NewServer(resp.Endpoint.URL, req.JupyterToken)
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	get := func(host string) int {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, resp.Endpoint.URL+"api/status", nil)
		r.Host = host
		r.Header.Set("Authorization", "token "+req.JupyterToken)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get("attacker.example:8888"); code != http.StatusForbidden {
		t.Errorf("a foreign Host header answered %d, want 403", code)
	}
	if code := get(""); code != http.StatusOK {
		t.Errorf("the loopback Host answered %d, want 200", code)
	}
}
