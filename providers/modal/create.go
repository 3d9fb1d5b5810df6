package modal

import (
	"context"
	"errors"
	"fmt"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// How long Create waits for the Jupyter tunnel: scheduling a GPU can take
// minutes. Each request asks Modal to wait up to tunnelPoll.
const (
	tunnelWait = 15 * time.Minute
	tunnelPoll = 50 * time.Second
)

// Create builds the image (Modal caches it), fetches missing model weights
// into their volumes, starts the sandbox with Jupyter behind an encrypted
// tunnel, tags it with req.Labels and returns the tunnel URL once Jupyter
// answers there.
func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	// Core checked the spec against Info; a caller that did not gets the
	// same refusal rather than a sandbox without what it asked for.
	if err := capabilities.CheckSpec(Name, &req.Spec); err != nil {
		return nil, err
	}
	pl, err := newPlan(p.dockerfile, req)
	if err != nil {
		return nil, err
	}
	progress := req.Progress
	if progress == nil {
		progress = func(core.Progress) {}
	}
	mc, err := p.modal(ctx)
	if err != nil {
		return nil, err
	}
	app, err := mc.Apps.FromName(ctx, appName, &modalsdk.AppFromNameParams{CreateIfMissing: true})
	if err != nil {
		return nil, modalError("open the Modal app "+appName, err)
	}
	volumes, err := p.modelVolumes(ctx, mc, app, req, pl.models, progress)
	if err != nil {
		return nil, err
	}
	extra := map[string]string{"JUPYTER_TOKEN": req.JupyterToken}
	for _, m := range pl.models {
		extra[m.envVar] = m.path
	}
	secrets, err := p.sandboxSecrets(ctx, mc, &req.Spec, extra)
	if err != nil {
		return nil, err
	}
	image := mc.Images.FromRegistry(pl.base, nil).
		DockerfileCommands(pl.recipe, nil).
		DockerfileCommands(pl.packages, nil)

	progress(core.Note("modal: building the image (cached after the first time) and starting the sandbox"))
	sb, err := mc.Sandboxes.Create(ctx, app, image, &modalsdk.SandboxCreateParams{
		GPU:            pl.gpu,
		CPU:            req.Spec.CPUs,
		MemoryMiB:      int(req.Spec.MemoryMiB),
		Timeout:        pl.timeout,
		IdleTimeout:    pl.idleTimeout,
		Workdir:        workDir,
		Command:        pl.command,
		Secrets:        secrets,
		Volumes:        volumes,
		EncryptedPorts: []int{core.JupyterPort},
		Name:           req.SessionID,
	})
	if err != nil {
		return nil, modalError("create the sandbox", err)
	}
	// From here on a failure terminates the sandbox: nothing is left behind.
	if err := sb.SetTags(ctx, req.Labels); err != nil {
		p.terminate(ctx, sb)
		return nil, modalError("tag sandbox "+sb.SandboxID, err)
	}
	p.logger.InfoContext(ctx, "modal sandbox created", "sandbox_id", sb.SandboxID, "session", req.SessionID, "gpu", pl.gpu)
	progress(core.Note("modal: sandbox %s started; waiting for the Jupyter tunnel", sb.SandboxID))
	url, err := waitForTunnel(ctx, sb)
	if err == nil {
		err = waitForJupyter(ctx, sb, url, req.JupyterToken)
	}
	if err != nil {
		p.terminate(ctx, sb)
		return nil, err
	}
	return &core.CreateResponse{
		Handle:   core.Handle{Provider: Name, ID: sb.SandboxID},
		Endpoint: core.Endpoint{URL: url, WorkDir: workDir},
	}, nil
}

// waitForTunnel returns the Jupyter tunnel's base URL once Modal has opened
// it, or an error if the sandbox exits first or tunnelWait runs out.
func waitForTunnel(ctx context.Context, sb *modalsdk.Sandbox) (string, error) {
	deadline := time.Now().Add(tunnelWait)
	for {
		tunnels, err := sb.Tunnels(ctx, tunnelPoll)
		var timeout modalsdk.SandboxTimeoutError
		switch {
		case err == nil:
			t := tunnels[core.JupyterPort]
			if t == nil {
				return "", core.Errorf(core.ErrUnavailable, "modal: sandbox %s has no tunnel for port %d", sb.SandboxID, core.JupyterPort)
			}
			return t.URL() + "/", nil
		case !errors.As(err, &timeout):
			return "", modalError("wait for the Jupyter tunnel", err)
		}
		if code, err := sb.Poll(ctx); err == nil && code != nil {
			return "", core.Errorf(core.ErrUnavailable, "modal: sandbox %s exited with code %d before Jupyter started; see `modal container logs %s`", sb.SandboxID, *code, sb.SandboxID)
		}
		if time.Now().After(deadline) {
			return "", core.Errorf(core.ErrUnavailable, "modal: sandbox %s opened no tunnel within %s (GPU capacity?)", sb.SandboxID, tunnelWait)
		}
	}
}

// terminate stops a sandbox that Create is abandoning, even when ctx is
// already cancelled; a failure is logged, as the original error matters more.
func (p *Provider) terminate(ctx context.Context, sb *modalsdk.Sandbox) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := sb.Terminate(ctx); err != nil && !isNotFound(err) {
		p.logger.WarnContext(ctx, "modal: could not terminate abandoned sandbox; run `sena gc`",
			"sandbox_id", sb.SandboxID, "error", fmt.Sprint(modalError("terminate", err)))
	}
}
