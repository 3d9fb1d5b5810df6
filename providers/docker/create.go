package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/sena-labs/sena/core"
)

// cleanupTimeout bounds removing a half-made sandbox after Create fails,
// which runs even when the caller's ctx is already cancelled.
const cleanupTimeout = 30 * time.Second

// handleVersion is the format of Handle.State.
const handleVersion = 1

// handleState is what Destroy needs beyond the container's id: the
// session's own network, which outlives a container removed by hand.
type handleState struct {
	Network string `json:"network,omitempty"`
}

// Create starts a container running jupyter_server and returns once GET /api
// answers through the published port. On any error the container is removed.
func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	// Core checked the spec against Info; a caller that did not gets the
	// same refusal rather than a sandbox without what it asked for.
	if err := capabilities.CheckSpec(Name, &req.Spec); err != nil {
		return nil, err
	}
	opts, err := decodeOptions(&req.Spec)
	if err != nil {
		return nil, err
	}
	if err := validate(req); err != nil {
		return nil, err
	}
	if opts.Network == networkNone && !p.localEngine() {
		return nil, core.Errorf(core.ErrUnsupported, "provider option network=none needs a local engine (the host reaches Jupyter at the container's address), and %s is not one", p.engine.where())
	}
	progress := req.Progress
	if progress == nil {
		progress = func(core.Progress) {}
	}
	base, baseInfo, err := p.baseImage(ctx, req.Spec.Image, progress)
	if err != nil {
		return nil, err
	}
	gpus := gpuRequest{GPU: req.Spec.GPU, Devices: opts.GPUDevices}
	var devices []gpuDevice
	if gpus.wanted() {
		// Before any package build: a host that cannot serve GPUs fails at once.
		progress(core.Note("listing the engine's GPUs"))
		if devices, err = p.gpus.devices(ctx, base); err != nil {
			return nil, err
		}
	}
	image, err := p.withPackages(ctx, base, baseInfo, &req.Spec, progress)
	if err != nil {
		return nil, err
	}

	name := containerName(req.SessionID)
	cs := newContainerSpec(req, image, opts)
	var state handleState
	if opts.Network == networkNone {
		state.Network = networkName(req.SessionID)
	}
	id, err := p.createContainer(ctx, req, cs, gpus, devices, state.Network, progress)
	if err == nil {
		var resp *core.CreateResponse
		if resp, err = p.start(ctx, id, req, cs, state.Network, progress); err == nil {
			resp.Handle.Version = handleVersion
			if state.Network != "" {
				resp.Handle.State, _ = json.Marshal(state)
			}
			p.log.InfoContext(ctx, "sandbox started", "container", name, "image", image, "url", resp.Endpoint.URL, "gpus", cs.config.Labels[LabelGPUs])
			return resp, nil
		}
	}
	// The caller's ctx may be why we failed: clean up regardless.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if id != "" {
		if rmErr := p.remove(cctx, id); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("also failed to remove container %s: %w; remove it with `docker rm -f %s`", name, rmErr, name))
		}
	}
	if state.Network != "" {
		if rmErr := p.removeNetwork(cctx, state.Network); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}
	return nil, err
}

// createContainer makes the session's network (network=none) and its
// container, with GPUs chosen for it when it asks for any. It returns the
// container's id, or "" when there is none to remove.
func (p *Provider) createContainer(ctx context.Context, req *core.CreateRequest, cs *containerSpec, gpus gpuRequest, devices []gpuDevice, netName string, progress func(core.Progress)) (string, error) {
	name := containerName(req.SessionID)
	if netName != "" {
		nctx, cancel := p.call(ctx, timeoutCreate)
		_, err := p.docker.NetworkCreate(nctx, netName, network.CreateOptions{
			Driver: "bridge", Internal: true,
			Labels: map[string]string{core.LabelManaged: "true", core.LabelSession: req.SessionID},
		})
		cancel()
		if err != nil {
			return "", p.wrap("create network "+netName, err)
		}
	}
	create := func(uuids []string) (string, error) {
		if len(uuids) > 0 {
			cs.withGPUs(p.gpus, uuids)
		}
		cctx, cancel := p.call(ctx, timeoutCreate)
		defer cancel()
		created, err := p.docker.ContainerCreate(cctx, cs.config, cs.host, nil, nil, name)
		if cerrdefs.IsConflict(err) {
			return "", core.Errorf(core.ErrInvalidConfig, "a container named %s already exists: remove it with `sena down %s` or `docker rm -f %s`", name, req.SessionID, name)
		}
		if err != nil {
			if cctx.Err() != nil {
				p.removeLateCreate(ctx, name)
			}
			return "", p.wrap("create container "+name, err)
		}
		return created.ID, nil
	}
	if !gpus.wanted() {
		return create(nil)
	}
	id, picked, err := p.allocateGPUs(ctx, devices, gpus, create)
	if err == nil {
		progress(core.Note("attaching GPUs %s", describeGPUs(picked)))
	}
	return id, err
}

// removeLateCreate removes the container a create we stopped waiting for
// may still make: the engine finishes a create its client hung up on, and
// the container would outlive the cancelled up. It looks for a few seconds.
func (p *Provider) removeLateCreate(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for range 10 {
		if _, err := p.docker.ContainerInspect(ctx, name); err == nil {
			if err := p.remove(ctx, name); err != nil {
				p.log.WarnContext(ctx, "remove the container of a cancelled create", "container", name, "err", err)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// start copies the files in (workspace, token, kernelspec), starts the
// container and waits for Jupyter.
func (p *Provider) start(ctx context.Context, id string, req *core.CreateRequest, cs *containerSpec, netName string, progress func(core.Progress)) (*core.CreateResponse, error) {
	files, err := filesTar(cs.files)
	if err != nil {
		return nil, err
	}
	cctx, cancel := p.call(ctx, timeoutCreate)
	defer cancel()
	if err := p.docker.CopyToContainer(cctx, id, "/", files, container.CopyToContainerOptions{}); err != nil {
		return nil, p.wrap("copy the workspace files and Jupyter's token into the container", err)
	}
	progress(core.Note("starting container %s", containerName(req.SessionID)))
	sctx, scancel := p.call(ctx, timeoutCreate)
	defer scancel()
	if err := p.docker.ContainerStart(sctx, id, container.StartOptions{}); err != nil {
		return nil, p.startError(err, cs)
	}
	ictx, icancel := p.call(ctx, timeoutQuick)
	defer icancel()
	info, err := p.docker.ContainerInspect(ictx, id)
	if err != nil {
		return nil, p.wrap("inspect container", err)
	}
	url, err := jupyterURL(info, netName)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, p.logTail(ctx, id))
	}
	progress(core.Note("waiting for Jupyter at %s", url))
	if err := p.waitJupyter(ctx, id, url, req.JupyterToken); err != nil {
		return nil, err
	}
	return &core.CreateResponse{
		Handle:   core.Handle{Provider: Name, ID: id},
		Endpoint: core.Endpoint{URL: url, WorkDir: workDir},
		// The tag as asked, with the content it named when the sandbox started.
		Image: cs.config.Image + "@" + info.Image,
	}, nil
}

// jupyterURL is where the host reaches the container's Jupyter: the
// published port on 127.0.0.1, or on a network=none sandbox its address on
// its own network.
func jupyterURL(info container.InspectResponse, netName string) (string, error) {
	if info.NetworkSettings == nil {
		return "", fmt.Errorf("the engine reports no network settings for the container")
	}
	if netName != "" {
		n, ok := info.NetworkSettings.Networks[netName]
		if !ok || n.IPAddress == "" {
			return "", fmt.Errorf("the container has no address on its network %s", netName)
		}
		return fmt.Sprintf("http://%s:%d/", n.IPAddress, core.JupyterPort), nil
	}
	port, err := hostPort(info.NetworkSettings.Ports)
	if err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + port + "/", nil
}

// localEngine reports whether the engine runs on this host, so this host
// can reach a container's own address.
func (p *Provider) localEngine() bool {
	u, err := url.Parse(p.docker.DaemonHost())
	return err == nil && (u.Scheme == "unix" || u.Scheme == "npipe" ||
		(u.Scheme == "tcp" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost")))
}

// startError explains why ContainerStart failed where the engine's message
// alone would not tell the user what to do.
func (p *Provider) startError(err error, cs *containerSpec) error {
	msg := err.Error()
	switch {
	case containsAnyOf(msg, "port is already allocated", "address already in use"):
		return core.Errorf(core.ErrUnavailable, "start container: the host port for Jupyter is taken (%v); run `sena up` again, or free the port", err)
	case len(cs.host.DeviceRequests) > 0 && containsAnyOf(msg, "nvidia", "device driver", "CDI", "cdi"):
		return gpuStartError(p.engine.where(), err)
	}
	return p.wrap("start container", err)
}

// containsAnyOf reports whether s contains one of subs. The engine reports
// port and device-driver failures as untyped errors, so their text is all
// there is to go on.
func containsAnyOf(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
