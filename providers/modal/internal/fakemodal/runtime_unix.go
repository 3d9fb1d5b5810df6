//go:build unix

package fakemodal

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sena-labs/sena/internal/freeport"
)

// runtime runs sandboxes as local processes.
type runtime struct {
	t         testing.TB
	python    string
	batchOnly bool
}

// RunLocally makes the fake run every sandbox's command as a local process,
// as a container would: "python3" replaced by python, the container's
// filesystem rooted at a host directory (every absolute path in its
// arguments, environment values and Workdir is taken under that root, or
// in the volume mounted there), the environment of its secrets, each
// encrypted port behind the sandbox's TLS tunnel, stdout and stderr kept as
// its logs. Processes share the host's network, so an argument that ends in
// "=PORT" for an open port is given a free host port instead. Sandboxes are
// killed on Terminate, at their timeout, and when the test ends.
func (s *Server) RunLocally(t testing.TB, python string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runtime = &runtime{t: t, python: python}
}

// RunBatchLocally runs only sandboxes without ports (Sena's model
// download) locally, as RunLocally does; those with ports get the stub.
func (s *Server) RunBatchLocally(t testing.TB, python string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runtime = &runtime{t: t, python: python, batchOnly: true}
}

func (r *runtime) runs(b *sandbox) bool {
	return !r.batchOnly || len(b.def.GetOpenPorts().GetPorts()) == 0
}

// start runs a sandbox's entrypoint; the caller holds s.mu.
func (r *runtime) start(s *Server, b *sandbox, env map[string]string) (*hostSide, error) {
	args := append([]string(nil), b.def.GetEntrypointArgs()...)
	if len(args) == 0 {
		return nil, fmt.Errorf("sandbox has no command")
	}
	for i, a := range args {
		args[i] = mapPathArg(b, a)
	}
	if args[0] == "python3" {
		args[0] = r.python
	}
	h := newHostSide()
	for _, p := range b.def.GetOpenPorts().GetPorts() {
		hostPort, err := freeport.Get()
		if err != nil {
			return nil, err
		}
		suffix := "=" + strconv.Itoa(int(p.GetPort()))
		for i, a := range args {
			if strings.HasSuffix(a, suffix) {
				args[i] = strings.TrimSuffix(a, suffix) + "=" + strconv.Itoa(hostPort)
			}
		}
		lis, err := s.listenTunnel(h, p.GetPort())
		if err != nil {
			h.stop()
			return nil, err
		}
		go proxy(lis, fmt.Sprintf("127.0.0.1:%d", hostPort))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = os.Environ(), b.hostPath(b.def.GetWorkdir())
	for k, v := range env {
		if strings.HasPrefix(v, "/") {
			v = b.hostPath(v)
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Logs go to the sandbox's log and, for a failing test, to its output.
	cmd.Stdout = io.MultiWriter(b.stdout, os.Stderr)
	cmd.Stderr = io.MultiWriter(b.stderr, os.Stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Jupyter and its kernels die together
	if err := cmd.Start(); err != nil {
		h.stop()
		return nil, err
	}
	h.kill = func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.finish(b, exitResult(code))
	}()
	return h, nil
}

// mapPathArg maps an absolute container path, alone or after "--flag=", to
// the host.
func mapPathArg(b *sandbox, a string) string {
	if strings.HasPrefix(a, "/") {
		return b.hostPath(a)
	}
	if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") && strings.HasPrefix(v, "/") {
		return k + "=" + b.hostPath(v)
	}
	return a
}
