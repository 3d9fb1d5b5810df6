package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/freeport"
)

// bareServer is the floor: jupyter_server started directly with the flags
// every Sena provider uses (core.JupyterServerArgs), no Sena in between.
type bareServer struct {
	url, token, dir string
	cmd             *exec.Cmd
	exited          chan struct{}
}

// startBare starts python -m jupyter_server on a free loopback port in a
// fresh directory under parent, tagging it (and so its kernels) with tag.
func startBare(python, parent, tag string) (*bareServer, error) {
	dir, err := os.MkdirTemp(parent, "bare-")
	if err != nil {
		return nil, err
	}
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	s := &bareServer{url: fmt.Sprintf("http://127.0.0.1:%d/", port), token: randomHex(24), dir: dir, exited: make(chan struct{})}
	args := append([]string{"-m", "jupyter_server"}, core.JupyterServerArgs(core.JupyterLaunch{IP: "127.0.0.1", Port: port, RootDir: dir})...)
	s.cmd = exec.Command(python, args...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "JUPYTER_TOKEN="+s.token, "JUPYTER_RUNTIME_DIR="+s.runtimeDir(), tagVar+"="+tag)
	log, err := os.Create(filepath.Join(dir, "jupyter.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the harness only
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return s, nil
}

func (s *bareServer) runtimeDir() string { return filepath.Join(s.dir, "runtime") }

// connectionFile is where the server wrote kernel id's ZMQ connection info.
func (s *bareServer) connectionFile(id string) string {
	return filepath.Join(s.runtimeDir(), "kernel-"+id+".json")
}

// waitReady polls GET /api/status every 10 ms: tighter than any client would.
func (s *bareServer) waitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"api/status", nil)
		req.Header.Set("Authorization", "token "+s.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "jupyter.log"))
			return fmt.Errorf("jupyter_server exited: %s", lastLines(string(log), 5))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startKernel starts a python3 kernel with POST /api/kernels and returns its id.
func (s *bareServer) startKernel(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"api/kernels", strings.NewReader(`{"name":"python3"}`))
	req.Header.Set("Authorization", "token "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var k struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || k.ID == "" {
		return "", fmt.Errorf("POST /api/kernels: HTTP %d (%v)", resp.StatusCode, err)
	}
	return k.ID, nil
}

// stop sends SIGTERM (the server shuts its kernels down), then SIGKILL to
// the group after 5 s, and removes the directory.
func (s *bareServer) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	_ = os.RemoveAll(s.dir)
}

// lastLines is the last n lines of s, for error messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
