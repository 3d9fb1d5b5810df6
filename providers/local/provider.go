package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
)

// Name is the provider's registry name.
const Name = "local"

// version is reported by Info.
const version = "0.1.0"

// labelsVar carries the sandbox's labels (JSON) in the server's environment;
// List finds sandboxes by it.
const labelsVar = "SENA_LABELS"

// Paths inside the work dir that belong to the provider.
const (
	logRel     = ".sena/jupyter.log"
	runtimeRel = ".sena/runtime" // JUPYTER_RUNTIME_DIR: server info and kernel connection files
)

// Provider runs sandboxes as processes on this host. It keeps no state.
type Provider struct {
	logger *slog.Logger
}

// New returns the local provider. It is a core.Factory.
func New(logger *slog.Logger) (core.Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Provider{logger: logger}, nil
}

// capabilities are what Create honours; Info adds the host's GPUs.
var capabilities = core.Capabilities{
	Fields: []core.Field{
		core.FieldPythonPackages, core.FieldCPUs, core.FieldTimeout, core.FieldIdleTimeout,
		core.FieldMounts, core.FieldFiles,
	},
	SharesHostFS:  true,
	OptionsSchema: optionsSchema,
}

// Info reports the host's GPU kinds (running nvidia-smi only when present).
func (p *Provider) Info(ctx context.Context) (*core.ProviderInfo, error) {
	caps := capabilities
	if _, ok := nvidiaSMI(); ok {
		if gpus, err := queryGPUs(ctx); err == nil {
			caps.GPUKinds, caps.MaxGPUs = hostKinds(gpus), len(gpus)
		} else {
			p.logger.Debug("nvidia-smi failed; reporting no GPUs", "err", err)
		}
	}
	return &core.ProviderInfo{
		Name:         Name,
		Version:      version,
		Description:  "jupyter_server as a process on this host (not a security boundary)",
		Capabilities: caps,
	}, nil
}

// Create starts jupyter_server for the request and waits until it answers.
func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	spec := &req.Spec
	var opts options
	if err := core.DecodeOptions(spec.Options, &opts); err != nil {
		return nil, err
	}
	// Core checked the spec against Info; a caller that did not gets the
	// same refusal rather than a sandbox without what it asked for. GPUs are
	// checked against the host's below, with the host's GPUs named.
	noGPU := *spec
	noGPU.GPU = core.GPU{}
	if err := capabilities.CheckSpec(Name, &noGPU); err != nil {
		return nil, err
	}
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	cpus, err := cpuList(spec.CPUs)
	if err != nil {
		return nil, err
	}
	progress := req.Progress
	if progress == nil {
		progress = func(core.Progress) {}
	}
	var cuda string
	if spec.GPU.Kind != "" {
		gpus, err := queryGPUs(ctx)
		if err != nil {
			return nil, core.Errorf(core.ErrUnsupported, "gpu %s: %v", spec.GPU, err)
		}
		if cuda, err = pickGPUs(gpus, spec.GPU); err != nil {
			return nil, err
		}
	}
	env := sandboxEnv(spec.Env)
	python, checked, err := interpreter(ctx, opts.Python, spec.PythonPackages, env, progress)
	if err != nil {
		return nil, err
	}

	_, statErr := os.Stat(req.WorkDir)
	madeWorkDir := errors.Is(statErr, os.ErrNotExist)
	s, err := p.start(ctx, req, python, env, cuda, cpus, progress)
	if cerr := checked(); cerr != nil {
		// The interpreter cannot run Jupyter: that, not how the server
		// failed (or that it started without ipykernel), is what to fix.
		if err == nil {
			_ = p.Destroy(context.WithoutCancel(ctx), &core.DestroyRequest{Handle: s.handle(req.SessionID)})
		}
		err = cerr
	}
	if err != nil {
		// Leave the caller's directory as it was.
		if madeWorkDir {
			_ = os.RemoveAll(req.WorkDir)
		} else {
			_ = os.RemoveAll(filepath.Join(req.WorkDir, runtimeRel))
		}
		return nil, err
	}
	return &core.CreateResponse{Handle: s.handle(req.SessionID), Endpoint: s.endpoint()}, nil
}

// checkRequest rejects what the local provider cannot do, before anything
// is written or started.
func checkRequest(req *core.CreateRequest) error {
	switch {
	case req.SessionID == "":
		return core.Errorf(core.ErrInvalidConfig, "local: CreateRequest.SessionID is empty")
	case req.JupyterToken == "":
		return core.Errorf(core.ErrInvalidConfig, "local: CreateRequest.JupyterToken is empty; the server must require a token")
	case !filepath.IsAbs(req.WorkDir):
		return core.Errorf(core.ErrInvalidConfig, "local: work dir %q must be an absolute path", req.WorkDir)
	case req.Spec.Image != "":
		return core.Errorf(core.ErrUnsupported, "the local provider runs no container images; drop --image or use the docker provider")
	case len(req.Spec.SystemPackages) > 0:
		return core.Errorf(core.ErrUnsupported, "the local provider installs no system packages; install them on the host, or use the docker provider")
	case req.Spec.MemoryMiB > 0:
		return core.Errorf(core.ErrUnsupported, "the local provider does not limit memory; drop --memory, or use the docker provider")
	}
	return checkLayout(&req.Spec)
}

// start prepares the work dir and starts the server, trying a second port
// if another process took the first.
func (p *Provider) start(ctx context.Context, req *core.CreateRequest, python string, env []string, cuda, cpus string, progress func(core.Progress)) (state, error) {
	runtime := filepath.Join(req.WorkDir, runtimeRel)
	if err := os.MkdirAll(runtime, 0o700); err != nil {
		return state{}, core.Errorf(core.ErrInvalidConfig, "work dir %s: %v", req.WorkDir, err)
	}
	if err := writeLayout(req.WorkDir, &req.Spec); err != nil {
		return state{}, err
	}
	labels := map[string]string{core.LabelManaged: "true", core.LabelSession: req.SessionID}
	for k, v := range req.Labels {
		labels[k] = v
	}
	labelsJSON, _ := json.Marshal(labels) // map of strings: cannot fail
	if cuda != "" {
		env = append(env, "CUDA_VISIBLE_DEVICES="+cuda)
	}
	// Last, so the user's env cannot override them (exec keeps the last of duplicates).
	env = append(env,
		"JUPYTER_TOKEN="+req.JupyterToken,
		"JUPYTER_RUNTIME_DIR="+runtime,
		labelsVar+"="+string(labelsJSON),
	)
	l := &launch{
		python:      python,
		workDir:     req.WorkDir,
		logPath:     filepath.Join(req.WorkDir, logRel),
		env:         env,
		token:       req.JupyterToken,
		timeout:     req.Spec.Timeout,
		idleTimeout: req.Spec.IdleTimeout,
		cpus:        cpus,
	}
	progress(core.Note("starting jupyter_server with %s", python))
	s, err := l.start(ctx, p.logger)
	if errors.Is(err, errPortTaken) {
		p.logger.Debug("port taken before the server bound it; trying another", "err", err)
		s, err = l.start(ctx, p.logger)
	}
	if errors.Is(err, errPortTaken) {
		err = core.Errorf(core.ErrUnavailable, "jupyter_server could not bind a free port twice: %v", err)
	}
	return s, err
}

// Inspect reports running when the server process is alive and answers
// GET /api, stopped when alive but not answering, ErrNotFound when gone.
func (p *Provider) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	s, err := decodeState(req.Handle)
	if err != nil {
		return nil, err
	}
	if !alive(s.PID, s.StartTime) {
		return nil, core.Errorf(core.ErrNotFound, "local sandbox %s is gone (its server, pid %d, has exited)", req.Handle.ID, s.PID)
	}
	status := core.StatusStopped
	if answers(ctx, s.Port) {
		status = core.StatusRunning
	}
	return &core.InspectResponse{Status: status, Endpoint: s.endpoint()}, nil
}

// Destroy stops the server's process group and its kernels: SIGTERM, so the
// server shuts its kernels down, then SIGKILL for whatever is left after
// killGrace. A sandbox already gone is success.
func (p *Provider) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	s, err := decodeState(req.Handle)
	if err != nil {
		return err
	}
	if alive(s.PID, s.StartTime) {
		// Kernels run in sessions of their own: collect them while the
		// tree still hangs together.
		kids := descendants(s.PID)
		signalGroup(s.PID, s.StartTime, syscall.SIGTERM)
		if !waitGone(ctx, append(kids, s.proc()), killGrace) {
			signalGroup(s.PID, s.StartTime, syscall.SIGKILL)
			signalEach(kids, syscall.SIGKILL)
			if !waitGone(ctx, append(kids, s.proc()), killGrace) {
				return core.Errorf(core.ErrUnavailable, "local sandbox %s: processes still running after SIGKILL (pid %d)", req.Handle.ID, s.PID)
			}
		}
		p.logger.Debug("local sandbox stopped", "id", req.Handle.ID, "pid", s.PID)
	}
	if s.WorkDir != "" {
		_ = os.RemoveAll(filepath.Join(s.WorkDir, runtimeRel)) // holds the token and kernel keys
	}
	return nil
}

// waitGone waits until none of ps is alive, for at most d.
func waitGone(ctx context.Context, ps []proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		gone := true
		for _, q := range ps {
			if alive(q.PID, q.StartTime) {
				gone = false
				break
			}
		}
		if gone {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// List finds the sandboxes on this host from the process table: server
// processes whose environment carries SENA_LABELS and whose parent does not
// carry the same labels (kernels and other children inherit them).
func (p *Provider) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	all, err := pids()
	if err != nil {
		return nil, fmt.Errorf("read process table: %w", err)
	}
	resp := &core.ListResponse{}
	for _, pid := range all {
		raw, ok := environVar(pid, labelsVar)
		if !ok {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.State == 'Z' {
			continue
		}
		if parent, _ := environVar(st.PPID, labelsVar); parent == raw {
			continue
		}
		port, root := serverArgs(cmdline(pid))
		if port == 0 {
			continue // not a server Sena started (a process a kernel left behind)
		}
		var labels map[string]string
		if json.Unmarshal([]byte(raw), &labels) != nil || !hasLabels(labels, req.Labels) {
			continue
		}
		s := state{PID: pid, StartTime: st.StartTime, Port: port, WorkDir: root}
		status := core.StatusStopped
		if answers(ctx, port) {
			status = core.StatusRunning
		}
		resp.Sandboxes = append(resp.Sandboxes, core.SandboxInfo{
			Handle: s.handle(labels[core.LabelSession]),
			Labels: labels,
			Status: status,
		})
	}
	return resp, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
