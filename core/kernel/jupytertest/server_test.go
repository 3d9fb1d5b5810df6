package jupytertest

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestStart(t *testing.T) {
	for _, in := range Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			var pid int
			t.Run("serve", func(t *testing.T) {
				s := Start(t, in.Path)
				pid = s.PID

				var v struct{ Version string }
				getJSON(t, s.URL+"api", "", http.StatusOK, &v)
				if v.Version != in.ServerVersion {
					t.Errorf("GET /api version %q, interpreter reported %q", v.Version, in.ServerVersion)
				}
				// The token authenticates; its absence does not.
				getJSON(t, s.URL+"api/status", s.Token, http.StatusOK, nil)
				getJSON(t, s.URL+"api/status", "", http.StatusForbidden, nil)
				if st, err := os.Stat(s.RootDir); err != nil || !st.IsDir() {
					t.Errorf("RootDir %q: %v", s.RootDir, err)
				}
			})
			// Cleanup of the subtest must have stopped the server.
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("server pid %d still running after its test ended", pid)
			}
		})
	}
}

func getJSON(t *testing.T, url, token string, want int, into any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d", url, resp.StatusCode, want)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInterpretersDedupe(t *testing.T) {
	t.Setenv("SENA_TEST_PYTHONS", "")
	base := Interpreters(t)
	// The same interpreters again, by other paths, add nothing.
	var paths []string
	for _, in := range base {
		paths = append(paths, in.Path, in.Path)
	}
	t.Setenv("SENA_TEST_PYTHONS", strings.Join(paths, ":"))
	again := Interpreters(t)
	if len(again) != len(base) {
		t.Errorf("with duplicates listed: %v; want the %d of %v", again, len(base), base)
	}
	for _, in := range again {
		if in.Name == "" || in.ServerVersion == "" || !strings.HasSuffix(in.Name, in.ServerVersion) {
			t.Errorf("interpreter %+v: want a name ending in its server version", in)
		}
	}
}
