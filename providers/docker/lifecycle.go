package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/sena-labs/sena/core"
)

// stopGrace is how long Destroy lets Jupyter shut its kernels down.
var stopGrace = 5 // seconds

// Inspect reports whether the sandbox's container is running, the GPUs it
// holds and, once it stopped, why.
func (p *Provider) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	ctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	info, err := p.docker.ContainerInspect(ctx, req.Handle.ID)
	if err != nil {
		return nil, p.wrap("inspect sandbox "+req.Handle.ID, err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	resp := &core.InspectResponse{Status: core.StatusStopped, GPUs: splitList(labels[LabelGPUs])}
	if info.State != nil && info.State.Running {
		resp.Status = core.StatusRunning
		var st handleState
		_ = json.Unmarshal(req.Handle.State, &st) // an old handle has none
		if url, err := jupyterURL(info, st.Network); err == nil {
			resp.Endpoint = core.Endpoint{URL: url, WorkDir: workDir}
		}
		return resp, nil
	}
	if info.State != nil {
		resp.Reason = stopReason(info.State.ExitCode, info.State.OOMKilled, info.State.Error, labels)
	}
	return resp, nil
}

// stopReason says why a sandbox's container stopped, from its exit status:
// `timeout` exits 124 when the lifetime runs out (137 when it had to kill),
// a container killed from outside exits 137, one stopped 143.
func stopReason(code int, oom bool, engineErr string, labels map[string]string) string {
	switch {
	case oom:
		return "out of memory: the kernel was killed at the sandbox's memory limit (exit " + strconv.Itoa(code) + ")"
	case engineErr != "":
		return "the engine could not run it: " + engineErr
	case code == exitTimedOut:
		if t := labels[labelTimeout]; t != "" {
			return "its timeout (" + t + ") ran out"
		}
		return "its timeout ran out (exit 124)"
	case code == exitKilled:
		return "killed (exit 137: SIGKILL, from `docker kill`, the host's OOM killer, or a timeout whose server would not stop)"
	case code == 143:
		return "stopped (exit 143: SIGTERM, as `docker stop` sends)"
	case code == 0:
		if t := labels[labelIdle]; t != "" {
			return "jupyter_server shut down (exit 0): idle for " + t + ", or asked to"
		}
		return "jupyter_server shut down (exit 0)"
	}
	return fmt.Sprintf("jupyter_server exited with status %d", code)
}

// Destroy stops and removes the sandbox's container, and its network. A
// sandbox that is already gone is success.
func (p *Provider) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	if err := p.remove(ctx, req.Handle.ID); err != nil {
		return err
	}
	var st handleState
	if json.Unmarshal(req.Handle.State, &st) == nil && st.Network != "" {
		return p.removeNetwork(ctx, st.Network)
	}
	return nil
}

func (p *Provider) remove(ctx context.Context, id string) error {
	sctx, cancel := p.call(ctx, timeoutStop)
	defer cancel()
	err := p.docker.ContainerStop(sctx, id, container.StopOptions{Timeout: &stopGrace})
	if err != nil && !cerrdefs.IsNotFound(err) {
		p.log.WarnContext(ctx, "stop container failed; removing it by force", "container", id, "err", err)
	}
	rctx, rcancel := p.call(ctx, timeoutStop)
	defer rcancel()
	err = p.docker.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) || isRemovalInProgress(err) {
		return nil
	}
	return p.wrap("remove container "+id, err)
}

func (p *Provider) removeNetwork(ctx context.Context, name string) error {
	ctx, cancel := p.call(ctx, timeoutStop)
	defer cancel()
	if err := p.docker.NetworkRemove(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
		return p.wrap("remove network "+name, err)
	}
	return nil
}

// isRemovalInProgress: another Destroy of the same sandbox is already
// removing it, which is what this one wants. The engine has no typed error
// for it.
func isRemovalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// List returns the containers Sena made (running or not) whose labels
// include all of req.Labels.
func (p *Provider) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	f := filters.NewArgs(filters.Arg("label", core.LabelManaged+"=true"))
	for k, v := range req.Labels {
		f.Add("label", k+"="+v)
	}
	ctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	cs, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, p.wrap("list containers", err)
	}
	resp := &core.ListResponse{Sandboxes: make([]core.SandboxInfo, 0, len(cs))}
	for _, c := range cs {
		sb := core.SandboxInfo{
			Handle: core.Handle{Provider: Name, ID: c.ID, Version: handleVersion},
			Labels: c.Labels,
			Status: status(c.State),
			GPUs:   splitList(c.Labels[LabelGPUs]),
		}
		if c.Labels[labelNetwork] == networkNone {
			sb.Handle.State, _ = json.Marshal(handleState{Network: networkName(c.Labels[core.LabelSession])})
		}
		if sb.Status == core.StatusStopped {
			if code, ok := exitCodeOf(c.Status); ok {
				sb.Reason = stopReason(code, false, "", c.Labels)
			}
		}
		resp.Sandboxes = append(resp.Sandboxes, sb)
	}
	return resp, nil
}

// exitStatus reads the code from a container list's status ("Exited (124) 5 minutes ago").
var exitStatus = regexp.MustCompile(`^Exited \((-?\d+)\)`)

func exitCodeOf(status string) (int, bool) {
	m := exitStatus.FindStringSubmatch(status)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// status maps a container state to a sandbox status.
func status(state container.ContainerState) core.Status {
	switch state {
	case container.StateRunning:
		return core.StatusRunning
	case container.StateCreated, container.StateExited, container.StateDead:
		return core.StatusStopped
	default: // paused, restarting, removing
		return core.StatusUnknown
	}
}
