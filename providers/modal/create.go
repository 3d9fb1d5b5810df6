package modal

import (
	"context"
	"errors"
	"fmt"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sena-labs/sena/core"
)

// How long Create waits for the Jupyter tunnel: scheduling a GPU can take
// minutes. Each request asks Modal to wait up to tunnelPoll.
const (
	tunnelWait = 15 * time.Minute
	tunnelPoll = 50 * time.Second
)

// Create asks the Hub about the models, builds the image (Modal caches
// it), fetches missing weights into their volumes, starts the sandbox with
// Jupyter behind an encrypted tunnel, tags it with req.Labels, writes the
// workspace files into it and returns the tunnel URL once Jupyter answers
// there. On any failure, cancellation included, nothing is left running:
// a sandbox whose create answer was lost is found by its name.
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
	report := req.Progress
	if report == nil {
		report = func(core.Progress) {}
	}
	// Modal's steps (image builds, downloads, waits) report lines of text:
	// notes, one per line.
	progress := func(msg string) { report(core.Progress{Message: msg}) }
	remotes, hfToken, err := resolveModels(ctx, &req.Spec, pl.models)
	if err != nil {
		return nil, err
	}
	mc, err := p.modal(ctx)
	if err != nil {
		return nil, err
	}
	app, err := mc.Apps.FromName(ctx, appName, &modalsdk.AppFromNameParams{CreateIfMissing: true})
	if err != nil {
		return nil, p.appError(err)
	}
	volumes, checks, err := p.modelVolumes(ctx, mc, app, req, pl.models, remotes, hfToken, progress)
	if err != nil {
		return nil, err
	}
	command, err := jupyterCommand(pl.idleTimeout, checks)
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

	progress("modal: building the image (cached after the first time) and starting the sandbox")
	build := &buildLog{progress: progress}
	sb, err := mc.Sandboxes.Create(withBuildLog(ctx, build), app, image, &modalsdk.SandboxCreateParams{
		GPU: pl.gpu,
		// Requests are limits too, as on the other providers.
		CPU:            req.Spec.CPUs,
		CPULimit:       req.Spec.CPUs,
		MemoryMiB:      int(req.Spec.MemoryMiB),
		MemoryLimitMiB: int(req.Spec.MemoryMiB),
		Timeout:        pl.timeout,
		// No IdleTimeout: Modal's counts open tunnel connections, so a
		// busy kernel nobody watches would be killed. Jupyter applies
		// Sena's rule (kernel activity) instead; see jupyterCommand.
		Workdir:        workDir,
		Command:        command,
		Secrets:        secrets,
		Volumes:        volumes,
		EncryptedPorts: []int{core.JupyterPort},
		Name:           req.SessionID,
	})
	if err != nil {
		// A failed image build asked for no sandbox.
		var remote modalsdk.RemoteError
		if errors.As(err, &remote) {
			return nil, build.error(err)
		}
		// Ctrl-C during the request, or an answer lost on the way (a
		// retry then hits AlreadyExists on the name): the sandbox may
		// run, untagged. It has this session's name.
		p.cleanupByName(ctx, mc, req.SessionID, err, nil)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, modalError("create the sandbox", err)
	}
	started := time.Now()
	// From here on a failure terminates the sandbox: nothing is left behind.
	resp, err := p.startSession(ctx, sb, req, pl, progress, started)
	if err != nil {
		p.terminate(ctx, sb)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return resp, nil
}

// startSession takes a created sandbox to a Jupyter answering at its tunnel.
func (p *Provider) startSession(ctx context.Context, sb *modalsdk.Sandbox, req *core.CreateRequest, pl *plan, progress func(string), started time.Time) (*core.CreateResponse, error) {
	if err := sb.SetTags(ctx, req.Labels); err != nil {
		return nil, modalError("tag sandbox "+sb.SandboxID, err)
	}
	p.logger.InfoContext(ctx, "modal sandbox created", "sandbox_id", sb.SandboxID, "session", req.SessionID, "gpu", pl.gpu)
	progress(expiryLine(sb.SandboxID, started, pl.timeout, req.Spec.Timeout == 0))
	progress("modal: waiting for the sandbox to start (a GPU can take minutes to schedule) and for its Jupyter tunnel")
	url, err := waitForTunnel(ctx, sb)
	if err != nil {
		return nil, err
	}
	if err := deliver(ctx, sb, filesBundle, pl.files); err != nil {
		if code := exitCode(ctx, sb); code != nil {
			return nil, exitedError(sb, *code, "its workspace files were written")
		}
		return nil, err
	}
	if err := p.ready(ctx, sb, url, req.JupyterToken); err != nil {
		return nil, err
	}
	return &core.CreateResponse{
		Handle:   core.Handle{Provider: Name, ID: sb.SandboxID, Version: handleVersion},
		Endpoint: core.Endpoint{URL: url, WorkDir: workDir},
		// The base and the recipe's steps: Modal builds and caches it by them.
		Image: pl.base + " + Sena's recipe",
	}, nil
}

// handleVersion is the format of this provider's handles: the sandbox id
// alone (1, and 0 before versions, the same).
const handleVersion = 1

// appError explains a failure to open Sena's app. modal-go reports every
// NotFound as "App not found", and an app opened with CreateIfMissing is
// missing only when the environment is: say so.
func (p *Provider) appError(err error) error {
	if isNotFound(err) {
		env, source := p.creds.environment, p.creds.environmentSource()
		if env == "" {
			env, source = "(default)", "the workspace's default"
		}
		return core.Errorf(core.ErrInvalidConfig,
			"modal: the Modal environment %s (%s) does not exist in this workspace: `modal environment list` shows them; set MODAL_ENVIRONMENT to one of them or unset it", env, source)
	}
	return modalError("open the Modal app "+appName, err)
}

// expiryLine says when Modal will stop the sandbox whatever happens, and
// how to change that.
func expiryLine(id string, started time.Time, timeout time.Duration, isDefault bool) string {
	how := "set by timeout"
	if isDefault {
		how = "the default"
	}
	return fmt.Sprintf("modal: sandbox %s started; Modal stops it at %s, %s after it started (%s; change it with --timeout or timeout:, up to %s)",
		id, started.Add(timeout).Local().Format("2006-01-02 15:04:05 MST"), timeout, how, maxTimeout)
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
		case ctx.Err() != nil:
			return "", ctx.Err()
		case !errors.As(err, &timeout):
			return "", modalError("wait for the Jupyter tunnel", err)
		}
		if code := exitCode(ctx, sb); code != nil {
			return "", exitedError(sb, *code, "its tunnel opened")
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

// cleanupByName terminates the running sandbox named name in Sena's app
// after its create failed with createErr, when ours(tags) (nil: always).
// When the failure leaves open whether Modal acted (cancelled, timed out,
// unavailable), the name is looked up a few times: the sandbox may appear
// after the client gave up.
func (p *Provider) cleanupByName(ctx context.Context, mc *modalsdk.Client, name string, createErr error, ours func(map[string]string) bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	lookups := 1
	if ambiguous(createErr) {
		lookups = 3
	}
	for i := range lookups {
		if i > 0 {
			time.Sleep(time.Second)
		}
		sb, err := mc.Sandboxes.FromName(ctx, appName, name, nil)
		if err != nil {
			if !isNotFound(err) {
				p.logger.WarnContext(ctx, "modal: could not look up a sandbox whose create failed; run `sena gc`", "name", name, "error", fmt.Sprint(modalError("look up", err)))
			}
			continue
		}
		if ours != nil {
			tags, err := sb.GetTags(ctx)
			if err != nil || !ours(tags) {
				return
			}
		}
		p.logger.InfoContext(ctx, "modal: terminating a sandbox whose create failed", "sandbox_id", sb.SandboxID, "name", name)
		p.terminate(ctx, sb)
		return
	}
}

// ambiguous reports whether a failed call may still have been carried out.
func ambiguous(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var taken modalsdk.AlreadyExistsError
	if errors.As(err, &taken) {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return false // not an answer from Modal: the request was not sent
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
