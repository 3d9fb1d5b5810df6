package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/freeport"
)

// startTimeout bounds how long a server may take to answer; a cold 2.x start
// on a busy two-core machine takes several seconds.
const startTimeout = 2 * time.Minute

// killGrace is how long a server has to stop its kernels after SIGTERM
// before it is killed.
const killGrace = 5 * time.Second

// launch is everything needed to start one server.
type launch struct {
	python      string
	workDir     string
	logPath     string
	env         []string // complete environment, token included
	token       string   // to check that the server answering is ours
	timeout     time.Duration
	idleTimeout time.Duration
	cpus        string // a CPU list for taskset, "" for no limit
}

// errPortTaken means another process bound the chosen port first.
var errPortTaken = errors.New("port taken")

// start runs the server on a free port and waits until it answers with our
// token. On error nothing it started is left running.
func (l *launch) start(ctx context.Context, logger *slog.Logger) (state, error) {
	port, err := freeport.Get()
	if err != nil {
		return state{}, core.Errorf(core.ErrUnavailable, "no free local port: %v", err)
	}
	argv := append([]string{l.python}, core.JupyterServerCommand(core.JupyterLaunch{
		IP: "127.0.0.1", Port: port, RootDir: l.workDir, IdleTimeout: l.idleTimeout,
	})...)
	if l.timeout > 0 {
		// coreutils timeout enforces the lifetime with no sena process
		// running: SIGTERM to the whole group, SIGKILL killGrace later.
		tb, err := exec.LookPath("timeout")
		if err != nil {
			return state{}, core.Errorf(core.ErrUnsupported, "a sandbox timeout needs coreutils `timeout` on PATH; install coreutils or drop --timeout")
		}
		argv = append([]string{tb, fmt.Sprintf("--kill-after=%ds", int(killGrace.Seconds())), fmt.Sprintf("%.3fs", l.timeout.Seconds())}, argv...)
	}
	if l.cpus != "" {
		// taskset sets the affinity and execs, so the server and every
		// kernel it starts inherit it (os.sched_getaffinity shows it).
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return state{}, core.Errorf(core.ErrUnsupported, "--cpus on the local provider needs util-linux `taskset` on PATH; install util-linux or drop --cpus")
		}
		argv = append([]string{ts, "--cpu-list", l.cpus}, argv...)
	}
	logf, err := os.OpenFile(l.logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return state{}, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = l.workDir
	cmd.Env = l.env
	cmd.Stdout, cmd.Stderr = logf, logf // never our stdout: it may be an MCP stdio transport
	// A session of its own: the server outlives this process, survives its
	// terminal hanging up, and leads a process group Destroy can signal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started := time.Now()
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return state{}, core.Errorf(core.ErrInvalidConfig, "start %s: %v", argv[0], err)
	}
	// Read the start time before anything can reap the child: until Wait,
	// even a server that has already exited keeps its /proc entry.
	st, err := readStat(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return state{}, fmt.Errorf("read /proc for the server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // reaps the server if it ends while we run
	s := state{PID: cmd.Process.Pid, StartTime: st.StartTime, Port: port, WorkDir: l.workDir}
	logger.Debug("jupyter_server started", "pid", s.PID, "port", port, "python", l.python)

	if err := waitReady(ctx, s, l.token, exited); err != nil {
		stop(s.proc(), exited)
		if errors.Is(err, errExited) {
			if l.timeout > 0 && time.Since(started) >= l.timeout {
				return state{}, core.Errorf(core.ErrInvalidConfig, "jupyter_server did not start within the sandbox timeout (%s); give a longer --timeout", l.timeout)
			}
			log := readTail(l.logPath)
			if strings.Contains(log, "already in use") {
				return state{}, fmt.Errorf("%w: %s", errPortTaken, lastLine(log))
			}
			return state{}, core.Errorf(core.ErrInvalidConfig, "jupyter_server exited during start; its log ends:\n%s", log)
		}
		return state{}, err
	}
	return s, nil
}

var errExited = errors.New("exited")

// readyPoll is how often waitReady asks: a refused connection costs
// nothing, and each wait here adds to every `sena up`.
const readyPoll = 20 * time.Millisecond

// waitReady polls GET /api/status with the token until our server answers
// 200 (a stranger on the port would answer 403), the server exits, ctx ends,
// or startTimeout passes.
func waitReady(ctx context.Context, s state, token string, exited <-chan struct{}) error {
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	url := s.endpoint().URL + "api/status"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "token "+token)
		if resp, err := probeClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("waiting for jupyter_server: %w", ctx.Err())
		case <-deadline.C:
			return core.Errorf(core.ErrUnavailable, "jupyter_server did not answer on port %d within %s; see %s", s.Port, startTimeout, s.WorkDir+"/"+logRel)
		case <-time.After(readyPoll):
		}
	}
}

// probeClient is for short local health checks.
var probeClient = &http.Client{Timeout: 2 * time.Second}

// answers reports whether the server on port answers GET /api.
func answers(ctx context.Context, port int) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api", port), nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends a server started in this process at once (it never answered)
// and waits for it to be reaped.
func stop(p proc, exited <-chan struct{}) {
	kids := descendants(p.PID)
	signalGroup(p.PID, p.StartTime, syscall.SIGKILL)
	signalEach(kids, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(killGrace):
	}
}

// readTail returns the end of the server's log for error messages. Both
// jupyter_server 1.x and 2.x print the token masked ("?token=..."), so the
// log holds no secret.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), 20)
}
