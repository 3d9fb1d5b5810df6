package e2e

import (
	"io"
	"net/http"
	"testing"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// TestImageServesJupyterWithToken runs the test image as any user of the
// image would (its own CMD) and checks Jupyter answers, and only with the token.
func TestImageServesJupyterWithToken(t *testing.T) {
	requireDocker(t)
	img := testImage(t)
	const token = "e2e-image-token"
	ctr, err := testcontainers.Run(t.Context(), img,
		testcontainers.WithExposedPorts("8888/tcp"),
		testcontainers.WithEnv(map[string]string{"JUPYTER_TOKEN": token}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/api").WithPort("8888/tcp")),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("run %s: %v", img, err)
	}
	base, err := ctr.PortEndpoint(t.Context(), "8888/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{token, http.StatusOK}, {"", http.StatusForbidden}, {"wrong", http.StatusForbidden}} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/kernelspecs", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "token "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /api/kernelspecs with token %q: %d %s, want %d", tc.token, resp.StatusCode, body, tc.want)
		}
	}
}
