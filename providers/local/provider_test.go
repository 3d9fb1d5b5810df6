package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// need skips locally and fails in CI when a prerequisite is missing.
func need(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func randHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// request is a CreateRequest with a fresh session id, token and work dir,
// and a label unique to the test so List and leftovers see only its sandboxes.
func request(t *testing.T, python string) *core.CreateRequest {
	id := "sena-test-" + randHex(t)[:8]
	return &core.CreateRequest{
		SessionID:    id,
		Labels:       map[string]string{core.LabelManaged: "true", core.LabelSession: id, "test": t.Name()},
		JupyterToken: randHex(t),
		WorkDir:      filepath.Join(t.TempDir(), "work"),
		Spec:         core.SandboxSpec{Options: pythonOption(python)},
	}
}

// create runs Create and destroys the sandbox when the test ends.
func create(t *testing.T, req *core.CreateRequest) *core.CreateResponse {
	t.Helper()
	p, _ := New(nil)
	resp, err := p.Create(context.Background(), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle}); err != nil {
			t.Errorf("cleanup Destroy: %v", err)
		}
	})
	return resp
}

// leftovers lists live processes whose SENA_LABELS carry this test's session.
func leftovers(t *testing.T, session string) []int {
	t.Helper()
	all, _ := pids()
	var out []int
	for _, pid := range all {
		raw, ok := environVar(pid, labelsVar)
		if st, err := readStat(pid); ok && err == nil && st.State != 'Z' && strings.Contains(raw, session) {
			out = append(out, pid)
		}
	}
	return out
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestLifecycle(t *testing.T) {
	for _, in := range jupytertest.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) { testLifecycle(t, in.Path, 0) })
	}
	// Under a lifetime limit the group leader is coreutils timeout, not
	// Python: List, Inspect and Destroy must work the same.
	t.Run("with-timeout", func(t *testing.T) { testLifecycle(t, fastest(t).Path, time.Hour) })
}

// fastest is the interpreter whose server starts fastest: jupyter_server
// 1.x when there is one.
func fastest(t *testing.T) jupytertest.Interpreter {
	ins := jupytertest.Interpreters(t)
	for _, in := range ins {
		if strings.HasPrefix(in.ServerVersion, "1.") {
			return in
		}
	}
	return ins[0]
}

func testLifecycle(t *testing.T, python string, timeout time.Duration) {
	ctx := context.Background()
	req := request(t, python)
	req.Spec.Timeout = timeout
	req.Spec.Files = map[string][]byte{"lib/hello.py": []byte("GREETING = 'hi'\n")}
	req.Spec.Env = map[string]string{"SENA_TEST_SECRET": "s3cret-" + randHex(t)}
	var lines []string
	req.Progress = func(p core.Progress) { lines = append(lines, p.String()) }
	resp := create(t, req)

	s, err := decodeState(resp.Handle)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Handle.ID != req.SessionID || resp.Endpoint.URL != fmt.Sprintf("http://127.0.0.1:%d/", s.Port) || resp.Endpoint.WorkDir != req.WorkDir {
		t.Errorf("handle %+v endpoint %+v", resp.Handle, resp.Endpoint)
	}
	if len(lines) == 0 {
		t.Error("no progress lines")
	}
	if leader := filepath.Base(cmdline(s.PID)[0]); (leader == "timeout") != (timeout > 0) {
		t.Errorf("group leader is %s with timeout %s", leader, timeout)
	}

	// The token is required and works.
	if code, _ := get(t, resp.Endpoint.URL+"api/status", req.JupyterToken); code != http.StatusOK {
		t.Errorf("GET /api/status with token: %d", code)
	}
	if code, _ := get(t, resp.Endpoint.URL+"api/status", ""); code != http.StatusForbidden {
		t.Errorf("GET /api/status without token: %d, want 403", code)
	}
	// Files were written into the server's root.
	if code, body := get(t, resp.Endpoint.URL+"api/contents/lib/hello.py", req.JupyterToken); code != http.StatusOK || !strings.Contains(body, "GREETING") {
		t.Errorf("GET /api/contents/lib/hello.py: %d %s", code, body)
	}

	// A kernel gets the spec's env; it runs in a session of its own, so
	// Destroy must find it by the process tree.
	kernelPID := startKernel(t, resp.Endpoint.URL, req.JupyterToken, s.PID)
	if v, _ := environVar(kernelPID, "SENA_TEST_SECRET"); v != req.Spec.Env["SENA_TEST_SECRET"] {
		t.Errorf("kernel's SENA_TEST_SECRET = %q, want the spec's value", v)
	}

	// Secrets stay out of the log, the handle and the command line.
	logText, _ := os.ReadFile(filepath.Join(req.WorkDir, logRel))
	cmd := strings.Join(cmdline(s.PID), " ")
	for _, secret := range []string{req.JupyterToken, req.Spec.Env["SENA_TEST_SECRET"]} {
		for where, text := range map[string]string{"log": string(logText), "handle": string(resp.Handle.State), "command line": cmd} {
			if strings.Contains(text, secret) {
				t.Errorf("a secret appears in the %s", where)
			}
		}
	}

	p, _ := New(nil)
	ir, err := p.Inspect(ctx, &core.InspectRequest{Handle: resp.Handle})
	if err != nil || ir.Status != core.StatusRunning || ir.Endpoint != resp.Endpoint {
		t.Errorf("Inspect: %+v, %v", ir, err)
	}

	lr, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{"test": t.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Sandboxes) != 1 {
		t.Fatalf("List found %d sandboxes, want 1: %+v", len(lr.Sandboxes), lr.Sandboxes)
	}
	if got := lr.Sandboxes[0]; got.Handle.ID != req.SessionID || string(got.Handle.State) != string(resp.Handle.State) ||
		got.Status != core.StatusRunning || got.Labels["test"] != t.Name() {
		t.Errorf("List: %+v, want handle %s", got, resp.Handle.State)
	}
	if lr, _ := p.List(ctx, &core.ListRequest{Labels: map[string]string{"test": "other"}}); len(lr.Sandboxes) != 0 {
		t.Errorf("List with another label found %+v", lr.Sandboxes)
	}

	// A fresh provider, given only the handle as JSON (as a later sena
	// command would read it from disk), inspects and destroys the sandbox.
	raw, _ := json.Marshal(resp.Handle)
	var h core.Handle
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	fresh, _ := New(nil)
	if ir, err := fresh.Inspect(ctx, &core.InspectRequest{Handle: h}); err != nil || ir.Status != core.StatusRunning {
		t.Errorf("Inspect through the round-tripped handle: %+v, %v", ir, err)
	}
	start := time.Now()
	if err := fresh.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	t.Logf("Destroy took %s", time.Since(start).Round(time.Millisecond))

	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port)); err != nil {
		t.Errorf("port %d still taken after Destroy: %v", s.Port, err)
	} else {
		ln.Close()
	}
	waitFor(t, "the server's process group to be gone", func() bool { return syscall.Kill(-s.PID, 0) == syscall.ESRCH })
	if alive(kernelPID, mustStart(kernelPID)) {
		t.Errorf("kernel %d still running after Destroy", kernelPID)
	}
	if left := leftovers(t, req.SessionID); len(left) > 0 {
		t.Errorf("processes left after Destroy: %v", left)
	}
	if _, err := os.Stat(filepath.Join(req.WorkDir, runtimeRel)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir (token, kernel keys) left after Destroy: %v", err)
	}
	if _, err := p.Inspect(ctx, &core.InspectRequest{Handle: h}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Inspect after Destroy: %v, want ErrNotFound", err)
	}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: h}); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// startKernel starts a kernel through the REST API and returns its pid.
func startKernel(t *testing.T, base, token string, serverPID int) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"api/kernels", strings.NewReader(`{"name":"python3"}`))
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/kernels: %d", resp.StatusCode)
	}
	var pid int
	waitFor(t, "a kernel process under the server", func() bool {
		for _, d := range descendants(serverPID) {
			if args := strings.Join(cmdline(d.PID), " "); strings.Contains(args, "ipykernel") {
				pid = d.PID
				return true
			}
		}
		return false
	})
	return pid
}

func mustStart(pid int) uint64 {
	st, _ := readStat(pid)
	return st.StartTime
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Spec.Timeout stops the server with no help from this process.
func TestTimeoutStopsServer(t *testing.T) {
	if _, err := exec.LookPath("timeout"); err != nil {
		need(t, "coreutils timeout not on PATH (apt-get install coreutils)")
	}
	// The lifetime counts from the process start.
	req := request(t, fastest(t).Path)
	req.Spec.Timeout = 3 * time.Second
	start := time.Now()
	resp := create(t, req)
	p, _ := New(nil)
	waitFor(t, "the timeout to stop the server", func() bool {
		_, err := p.Inspect(context.Background(), &core.InspectRequest{Handle: resp.Handle})
		return errors.Is(err, core.ErrNotFound)
	})
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("server gone after %s, before its 3s timeout", d)
	}
	if left := leftovers(t, req.SessionID); len(left) > 0 {
		t.Errorf("processes left after the timeout: %v", left)
	}
}

// An interpreter without Jupyter is refused with the fix, before anything runs.
func TestPythonWithoutJupyter(t *testing.T) {
	venv := filepath.Join(t.TempDir(), "bare")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		need(t, fmt.Sprintf("python3 -m venv failed (apt-get install python3-venv): %v\n%s", err, out))
	}
	py := filepath.Join(venv, "bin", "python")
	req := request(t, py)
	p, _ := New(nil)
	_, err := p.Create(context.Background(), req)
	if !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("error %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{py, "No module named", "pip install jupyter_server ipykernel", "drop --python"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(req.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir created: %v", err)
	}

	req.Spec.Options = pythonOption("/nonexistent/python3")
	if _, err := p.Create(context.Background(), req); !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "/nonexistent/python3") {
		t.Errorf("missing interpreter: %v", err)
	}
}

// fakePython writes an interpreter that passes the Jupyter check and runs
// script instead of the server, counting its starts in DIR/starts.
func fakePython(t *testing.T, script string) (python, starts string) {
	dir := t.TempDir()
	python, starts = filepath.Join(dir, "python"), filepath.Join(dir, "starts")
	body := "#!/bin/sh\n[ \"$2\" = 'import jupyter_server, ipykernel' ] && exit 0\necho x >> " + starts + "\n" + script + "\n"
	if err := os.WriteFile(python, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return python, starts
}

func TestServerExitDuringStart(t *testing.T) {
	p, _ := New(nil)

	python, _ := fakePython(t, "echo 'Traceback: ModuleNotFoundError: boom' >&2; exit 1")
	req := request(t, python)
	_, err := p.Create(context.Background(), req)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "jupyter_server exited") || !strings.Contains(err.Error(), "ModuleNotFoundError: boom") {
		t.Errorf("error %v, want the exit and the log's tail", err)
	}
	if _, err := os.Stat(req.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work dir Create made is left: %v", err)
	}

	// A port taken between choosing and binding it is retried once.
	python, starts := fakePython(t, "echo '[Errno 98] Address already in use' >&2; exit 1")
	req = request(t, python)
	_, err = p.Create(context.Background(), req)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("error %v, want ErrUnavailable about the port", err)
	}
	if b, _ := os.ReadFile(starts); strings.Count(string(b), "x") != 2 {
		t.Errorf("server started %d times, want 2", strings.Count(string(b), "x"))
	}
}

// A server that never answers is killed, with its children, when ctx ends.
func TestCreateCancelledLeavesNothing(t *testing.T) {
	python, _ := fakePython(t, "sleep 300 & exec sleep 300")
	req := request(t, python)
	p, _ := New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := p.Create(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
	if left := leftovers(t, req.SessionID); len(left) > 0 {
		t.Errorf("processes left after a failed Create: %v", left)
	}
}

func TestBadRequests(t *testing.T) {
	p, _ := New(nil)
	for name, mod := range map[string]func(*core.CreateRequest){
		"no token":        func(r *core.CreateRequest) { r.JupyterToken = "" },
		"relative dir":    func(r *core.CreateRequest) { r.WorkDir = "work" },
		"image":           func(r *core.CreateRequest) { r.Spec.Image = "debian" },
		"system packages": func(r *core.CreateRequest) { r.Spec.SystemPackages = []string{"curl"} },
		"file escape":     func(r *core.CreateRequest) { r.Spec.Files = map[string][]byte{"../x": nil} },
	} {
		req := request(t, "/nonexistent/python3")
		mod(req)
		_, err := p.Create(context.Background(), req)
		if !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := os.Stat(req.WorkDir); err == nil {
			t.Errorf("%s: work dir created", name)
		}
	}
	if _, err := p.Inspect(context.Background(), &core.InspectRequest{Handle: core.Handle{Provider: "docker", ID: "x"}}); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("Inspect of another provider's handle: %v", err)
	}
}
