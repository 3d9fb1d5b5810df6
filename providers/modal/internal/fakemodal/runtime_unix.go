//go:build unix

package fakemodal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sena-labs/sena/internal/freeport"
)

// runtime runs sandboxes as local processes, for the conformance suite.
type runtime struct {
	t      testing.TB
	python string
}

// RunLocally makes the fake run every sandbox that opens ports as a local
// process, as a container would: its entrypoint with "python3" replaced by
// python, its Workdir mapped to a temporary directory, the environment of
// its secrets, and each encrypted port behind the sandbox's TLS tunnel.
// Processes share the host's network, so an argument that ends in "=PORT"
// for an open port is given a free host port instead. Sandboxes are killed
// on Terminate and when the test ends.
func (s *Server) RunLocally(t testing.TB, python string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runtime = &runtime{t: t, python: python}
}

// start runs a sandbox's entrypoint; the caller holds s.mu.
func (r *runtime) start(s *Server, b *sandbox, env map[string]string) (*hostSide, error) {
	dir := filepath.Join(r.t.TempDir(), "root")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string(nil), b.def.GetEntrypointArgs()...)
	if len(args) == 0 {
		return nil, fmt.Errorf("sandbox has no command")
	}
	if args[0] == "python3" {
		args[0] = r.python
	}
	h := &hostSide{}
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
	if wd := b.def.GetWorkdir(); wd != "" {
		for i, a := range args {
			if a == wd {
				args[i] = dir
			} else if strings.HasSuffix(a, "="+wd) {
				args[i] = strings.TrimSuffix(a, wd) + dir
			}
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env, cmd.Dir = os.Environ(), dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
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
		if !b.terminated {
			b.exitCode = &code
		}
	}()
	return h, nil
}
