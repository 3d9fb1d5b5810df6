package modal

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
)

// TestLiveModal runs against Modal itself. It needs real credentials in
// MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, starts one CPU sandbox (billed for
// a few minutes) and always terminates it. It never ran where this
// provider was written: Modal could not be reached from there.
func TestLiveModal(t *testing.T) {
	if os.Getenv("MODAL_TOKEN_ID") == "" {
		t.Skip("MODAL_TOKEN_ID not set: the live Modal test needs real credentials")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	prov, err := New(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := prov.(*Provider)
	defer p.Close()

	session := "sena-live-" + time.Now().Format("150405")
	req := minimalRequest(session)
	req.Spec.Timeout = 10 * time.Minute
	req.Progress = func(p core.Progress) { t.Log(p) }
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
			t.Errorf("Destroy %s: %v (terminate it in the Modal dashboard)", resp.Handle.ID, err)
		}
	})

	// Jupyter answers through the tunnel, and only with the token.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, resp.Endpoint.URL+"api/status", nil)
		r.Header.Set("Authorization", "token "+testToken)
		res, err := http.DefaultClient.Do(r)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jupyter at %s not ready: %v", resp.Endpoint.URL, err)
		}
		time.Sleep(3 * time.Second)
	}

	if res, err := http.Get(resp.Endpoint.URL + "api/status"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("Jupyter answered without the token")
		}
	}

	list, err := p.List(ctx, &core.ListRequest{Labels: labels(session)})
	if err != nil || len(list.Sandboxes) != 1 || list.Sandboxes[0].Handle.ID != resp.Handle.ID {
		t.Errorf("List by session = %+v, %v", list, err)
	}
}
