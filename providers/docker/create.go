package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/sena-labs/sena/core"
)

// cleanupTimeout bounds removing a half-made sandbox after Create fails,
// which runs even when the caller's ctx is already cancelled.
const cleanupTimeout = 30 * time.Second

// Create starts a container running jupyter_server and returns once GET /api
// answers through the published port. On any error the container is removed.
func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	// Core checked the spec against Info; a caller that did not gets the
	// same refusal rather than a sandbox without what it asked for.
	if err := capabilities.CheckSpec(Name, &req.Spec); err != nil {
		return nil, err
	}
	if err := validate(req); err != nil {
		return nil, err
	}
	progress := req.Progress
	if progress == nil {
		progress = func(core.Progress) {}
	}
	if req.Spec.GPU.Kind != "" {
		if err := p.checkNvidiaRuntime(ctx, req.Spec.GPU); err != nil {
			return nil, err
		}
	}
	image, err := p.resolveImage(ctx, &req.Spec, progress)
	if err != nil {
		return nil, err
	}

	name := containerName(req.SessionID)
	cs := newContainerSpec(req, image)
	created, err := p.docker.ContainerCreate(ctx, cs.config, cs.host, nil, nil, name)
	if cerrdefs.IsConflict(err) {
		return nil, core.Errorf(core.ErrInvalidConfig, "a container named %s already exists: remove it with `sena down %s` or `docker rm -f %s`", name, req.SessionID, name)
	}
	if err != nil {
		return nil, p.wrap("create container "+name, err)
	}
	resp, err := p.start(ctx, created.ID, req, progress)
	if err != nil {
		// The caller's ctx may be why we failed: clean up regardless.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rmErr := p.remove(cctx, created.ID); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("also failed to remove container %s: %w; remove it with `docker rm -f %s`", name, rmErr, name))
		}
		return nil, err
	}
	p.log.InfoContext(ctx, "sandbox started", "container", name, "image", image, "url", resp.Endpoint.URL)
	return resp, nil
}

// start copies the workspace files in, starts the container, checks GPUs,
// and waits for Jupyter.
func (p *Provider) start(ctx context.Context, id string, req *core.CreateRequest, progress func(core.Progress)) (*core.CreateResponse, error) {
	if len(req.Spec.Files) > 0 {
		files, err := filesTar(req.Spec.Files)
		if err != nil {
			return nil, err
		}
		if err := p.docker.CopyToContainer(ctx, id, "/", files, container.CopyToContainerOptions{}); err != nil {
			return nil, p.wrap("copy workspace files into the container", err)
		}
	}
	progress(core.Note("starting container %s", containerName(req.SessionID)))
	if err := p.docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return nil, p.startError(err, req.Spec.GPU)
	}
	info, err := p.docker.ContainerInspect(ctx, id)
	if err != nil {
		return nil, p.wrap("inspect container", err)
	}
	port, err := hostPort(info.NetworkSettings.Ports)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, p.logTail(ctx, id))
	}
	if req.Spec.GPU.Kind != "" {
		if err := p.checkGPUKind(ctx, id, req.Spec.GPU); err != nil {
			return nil, err
		}
	}
	url := "http://127.0.0.1:" + port + "/"
	progress(core.Note("waiting for Jupyter at %s", url))
	if err := p.waitJupyter(ctx, id, url); err != nil {
		return nil, err
	}
	return &core.CreateResponse{
		Handle:   core.Handle{Provider: Name, ID: id},
		Endpoint: core.Endpoint{URL: url, WorkDir: workDir},
	}, nil
}

// startError explains why ContainerStart failed where the engine's message
// alone would not tell the user what to do.
func (p *Provider) startError(err error, g core.GPU) error {
	msg := err.Error()
	switch {
	case containsAnyOf(msg, "port is already allocated", "address already in use"):
		return core.Errorf(core.ErrUnavailable, "start container: the host port for Jupyter is taken (%v); run `sena up` again, or free the port", err)
	case g.Kind != "" && containsAnyOf(msg, "nvidia", "could not select device driver"):
		return core.Errorf(core.ErrUnsupported, "start container with --gpu %s: %v; check `nvidia-smi` on the host shows enough GPUs and that the NVIDIA Container Toolkit is installed", g, err)
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
