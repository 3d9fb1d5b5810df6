package jupytertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/freeport"
)

// Server is a running jupyter_server owned by one test.
type Server struct {
	URL     string // base URL, base_url included, with trailing slash: "http://127.0.0.1:PORT/"
	Token   string // sent as "Authorization: token <Token>"
	RootDir string // the server's root_dir, a fresh t.TempDir()
	PID     int    // leader of the server's process group
	Log     string // path of the server's combined stdout/stderr
	exited  chan struct{}
}

// startTimeout bounds how long a server may take to answer GET /api; a cold
// 2.x start on a busy two-core machine takes several seconds.
const startTimeout = 60 * time.Second

// Start runs `python -m jupyter_server` with core.JupyterServerArgs on
// 127.0.0.1 and a free port, the token in JUPYTER_TOKEN, in its own process
// group, and waits until GET /api answers. extraArgs are appended to the
// server's flags (e.g. "--ZMQChannelsWebsocketConnection.kernel_ws_protocol=");
// a "--ServerApp.base_url=/x/" among them is reflected in URL.
// The server and its kernels are stopped when the test ends; the server's log
// is printed if the test failed.
func Start(t testing.TB, python string, extraArgs ...string) *Server {
	t.Helper()
	return start(t, python, func(l core.JupyterLaunch) []string {
		return append(append([]string{"-m", "jupyter_server"}, core.JupyterServerArgs(l)...), extraArgs...)
	}, baseURL(extraArgs))
}

// StartLaunched runs the server as every provider does, through
// core.JupyterServerCommand (Sena's launcher), with the idle timeout given.
func StartLaunched(t testing.TB, python string, idle time.Duration) *Server {
	t.Helper()
	return start(t, python, func(l core.JupyterLaunch) []string {
		l.IdleTimeout = idle
		return core.JupyterServerCommand(l)
	}, "")
}

// Exited reports whether the server process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

func start(t testing.TB, python string, argv func(core.JupyterLaunch) []string, base string) *Server {
	t.Helper()
	root := t.TempDir()
	state := t.TempDir() // config, runtime and IPython dirs: isolated from the user's
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	s := &Server{Token: hex.EncodeToString(b), RootDir: root, Log: filepath.Join(state, "jupyter.log")}

	// A port picked here may be taken before the server binds it; port_retries=0
	// makes that an early exit, so try a few ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(t, python, state, port, argv, base); lastErr == nil {
			return s
		}
		if !strings.Contains(lastErr.Error(), "exited") {
			break
		}
	}
	t.Fatalf("jupyter_server (%s) did not start: %v\n%s", python, lastErr, tail(s.Log))
	return nil
}

func (s *Server) start(t testing.TB, python, state string, port int, argv func(core.JupyterLaunch) []string, base string) error {
	args := argv(core.JupyterLaunch{IP: "127.0.0.1", Port: port, RootDir: s.RootDir})
	logf, err := os.Create(s.Log)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(python, args...)
	cmd.Dir = s.RootDir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(),
		"JUPYTER_TOKEN="+s.Token,
		"JUPYTER_CONFIG_DIR="+filepath.Join(state, "config"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(state, "runtime"),
		"IPYTHONDIR="+filepath.Join(state, "ipython"),
		"PYDEVD_DISABLE_FILE_VALIDATION=1", // silences a debugpy warning on 3.11+
	)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	s.PID, s.exited = cmd.Process.Pid, done
	s.URL = fmt.Sprintf("http://127.0.0.1:%d/", port) + base

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before answering: %v", err)
		case <-ctx.Done():
			stop(s.PID, exited)
			return fmt.Errorf("GET %sapi did not answer within %s", s.URL, startTimeout)
		case <-time.After(100 * time.Millisecond):
		}
		if apiUp(ctx, s.URL) {
			break
		}
	}
	t.Cleanup(func() {
		stop(s.PID, exited)
		if t.Failed() {
			t.Logf("jupyter_server log (%s):\n%s", python, tail(s.Log))
		}
	})
	return nil
}

// baseURL is the --ServerApp.base_url among args, without its leading slash
// and with a trailing one ("" for none).
func baseURL(args []string) string {
	const flag = "--ServerApp.base_url="
	for _, a := range args {
		if b, ok := strings.CutPrefix(a, flag); ok && strings.Trim(b, "/") != "" {
			return strings.Trim(b, "/") + "/"
		}
	}
	return ""
}

func apiUp(ctx context.Context, base string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"api", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop asks the server to shut down (it then stops its kernels, which run in
// their own sessions), and kills the whole group if it lingers.
func stop(pid int, exited <-chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// tail returns the end of a log file: enough to see why a server failed.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "(no log)"
	}
	const max = 8 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(bytes.TrimSpace(b))
}
