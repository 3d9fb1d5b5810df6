package docker

import (
	"context"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/sena-labs/sena/core"
)

// stopGrace is how long Destroy lets Jupyter shut its kernels down.
var stopGrace = 5 // seconds

// Inspect reports whether the sandbox's container is running.
func (p *Provider) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	info, err := p.docker.ContainerInspect(ctx, req.Handle.ID)
	if err != nil {
		return nil, p.wrap("inspect sandbox "+req.Handle.ID, err)
	}
	resp := &core.InspectResponse{Status: core.StatusStopped}
	if info.State != nil && info.State.Running {
		resp.Status = core.StatusRunning
		if port, err := hostPort(info.NetworkSettings.Ports); err == nil {
			resp.Endpoint = core.Endpoint{URL: "http://127.0.0.1:" + port + "/", WorkDir: workDir}
		}
	}
	return resp, nil
}

// Destroy stops and removes the sandbox's container. A container that is
// already gone is success.
func (p *Provider) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	return p.remove(ctx, req.Handle.ID)
}

func (p *Provider) remove(ctx context.Context, id string) error {
	err := p.docker.ContainerStop(ctx, id, container.StopOptions{Timeout: &stopGrace})
	if err != nil && !cerrdefs.IsNotFound(err) {
		p.log.WarnContext(ctx, "stop container failed; removing it by force", "container", id, "err", err)
	}
	err = p.docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) || isRemovalInProgress(err) {
		return nil
	}
	return p.wrap("remove container "+id, err)
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
	cs, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, p.wrap("list containers", err)
	}
	resp := &core.ListResponse{Sandboxes: make([]core.SandboxInfo, 0, len(cs))}
	for _, c := range cs {
		resp.Sandboxes = append(resp.Sandboxes, core.SandboxInfo{
			Handle: core.Handle{Provider: Name, ID: c.ID},
			Labels: c.Labels,
			Status: status(c.State),
		})
	}
	return resp, nil
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
