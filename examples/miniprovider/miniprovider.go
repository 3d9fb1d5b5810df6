// Package miniprovider is the smallest provider that passes Sena's
// conformance suite: jupyter_server as a host process. It declares only what
// it does (files, one option), so Sena refuses all else (docs/providers.md).
package miniprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
)

// Provider keeps no state in memory: each sandbox's pid, port and labels
// are in a file under dir, which is this provider's "backend".
type Provider struct{ dir string }

type options struct{ Python string } // an interpreter with jupyter_server and ipykernel

type state struct {
	PID    int               `json:"pid"`
	Port   int               `json:"port"`
	Labels map[string]string `json:"labels"`
}

// New is a core.Factory.
func New(*slog.Logger) (core.Provider, error) {
	p := &Provider{dir: filepath.Join(os.TempDir(), fmt.Sprintf("sena-mini-%d", os.Getuid()))}
	return p, os.MkdirAll(p.dir, 0o700)
}

var caps = core.Capabilities{
	Fields:        []core.Field{core.FieldFiles},
	OptionsSchema: json.RawMessage(`{"type":"object","properties":{"python":{"type":"string"}},"required":["python"]}`),
}

func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{Name: "mini", Version: "1.0.0", Description: "jupyter_server as a host process", Capabilities: caps}, nil
}

func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	var o options
	if err := caps.CheckSpec("mini", &req.Spec); err != nil { // core checked; a provider refuses too
		return nil, err
	} else if err := core.DecodeOptions(req.Spec.Options, &o); err != nil {
		return nil, err
	}
	for name, data := range req.Spec.Files { // WorkDir exists: the caller made it
		path := filepath.Join(req.WorkDir, name)
		if !filepath.IsLocal(name) || os.MkdirAll(filepath.Dir(path), 0o700) != nil || os.WriteFile(path, data, 0o600) != nil {
			return nil, core.Errorf(core.ErrInvalidConfig, "mini: cannot write file %q in the work dir", name)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, core.Errorf(core.ErrUnavailable, "mini: no free port: %v", err)
	}
	cmd := exec.Command(o.Python, core.JupyterServerCommand(core.JupyterLaunch{IP: "127.0.0.1", Port: port, RootDir: req.WorkDir})...)
	cmd.Dir = req.WorkDir
	cmd.Env = append(os.Environ(), "JUPYTER_TOKEN="+req.JupyterToken) // never on the command line
	for k, v := range req.Spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives sena; one group to stop
	if err := cmd.Start(); err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "mini: start %s: %v", o.Python, err)
	}
	go func() { _ = cmd.Wait() }()
	s := state{PID: cmd.Process.Pid, Port: port, Labels: req.Labels}
	data, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(p.dir, req.SessionID+".json"), data, 0o600); err != nil {
		stop(s.PID)
		return nil, err
	}
	return &core.CreateResponse{Handle: core.Handle{Provider: "mini", ID: req.SessionID, Version: 1, State: data}, Endpoint: endpoint(port)}, nil
}

func (p *Provider) Inspect(_ context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	var s state
	if err := json.Unmarshal(req.Handle.State, &s); err != nil || syscall.Kill(s.PID, 0) != nil {
		return nil, core.Errorf(core.ErrNotFound, "mini: sandbox %s is gone", req.Handle.ID)
	}
	return &core.InspectResponse{Status: core.StatusRunning, Endpoint: endpoint(s.Port)}, nil
}

func (p *Provider) Destroy(_ context.Context, req *core.DestroyRequest) error {
	if s := (state{}); json.Unmarshal(req.Handle.State, &s) == nil {
		stop(s.PID)
	}
	if err := os.Remove(filepath.Join(p.dir, req.Handle.ID+".json")); !os.IsNotExist(err) {
		return err // nil, or a real failure; already gone is success
	}
	return nil
}

func (p *Provider) List(_ context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	files, err := filepath.Glob(filepath.Join(p.dir, "*.json"))
	resp := &core.ListResponse{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		var s state
		if err != nil || json.Unmarshal(data, &s) != nil || syscall.Kill(s.PID, 0) != nil {
			continue
		}
		if id := strings.TrimSuffix(filepath.Base(f), ".json"); hasLabels(s.Labels, req.Labels) {
			resp.Sandboxes = append(resp.Sandboxes, core.SandboxInfo{Handle: core.Handle{Provider: "mini", ID: id, Version: 1, State: data}, Labels: s.Labels, Status: core.StatusRunning})
		}
	}
	return resp, err
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func endpoint(port int) core.Endpoint {
	return core.Endpoint{URL: fmt.Sprintf("http://127.0.0.1:%d/", port)}
}

// stop asks the server to shut its kernels down, then kills what is left.
func stop(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	return l.Addr().(*net.TCPAddr).Port, l.Close()
}
