package modal

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// inspectTunnelWait bounds how long Inspect waits for a tunnel URL.
const inspectTunnelWait = 5 * time.Second

// Inspect reports whether the sandbox runs and, if so, its tunnel URL.
func (p *Provider) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	if err := checkHandle(req.Handle); err != nil {
		return nil, err
	}
	mc, err := p.modal(ctx)
	if err != nil {
		return nil, err
	}
	sb, err := mc.Sandboxes.FromID(ctx, req.Handle.ID)
	if err != nil {
		return nil, modalError("find sandbox "+req.Handle.ID, err)
	}
	code, err := sb.Poll(ctx)
	if err != nil {
		return nil, modalError("poll sandbox "+req.Handle.ID, err)
	}
	if code != nil {
		return &core.InspectResponse{Status: core.StatusStopped}, nil
	}
	resp := &core.InspectResponse{Status: core.StatusRunning, Endpoint: core.Endpoint{WorkDir: workDir}}
	// A running sandbox whose tunnel is not up yet is still running.
	if tunnels, err := sb.Tunnels(ctx, inspectTunnelWait); err == nil && tunnels[core.JupyterPort] != nil {
		resp.Endpoint.URL = tunnels[core.JupyterPort].URL() + "/"
	}
	return resp, nil
}

// Destroy terminates the sandbox; one that is already gone is success.
func (p *Provider) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	if err := checkHandle(req.Handle); err != nil {
		return err
	}
	mc, err := p.modal(ctx)
	if err != nil {
		return err
	}
	sb, err := mc.Sandboxes.FromID(ctx, req.Handle.ID)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return modalError("find sandbox "+req.Handle.ID, err)
	}
	if err := sb.Terminate(ctx); err != nil && !isNotFound(err) {
		return modalError("terminate sandbox "+req.Handle.ID, err)
	}
	p.logger.InfoContext(ctx, "modal sandbox terminated", "sandbox_id", req.Handle.ID)
	return nil
}

// List returns the running Sena sandboxes (tagged sena.managed=true) whose
// Modal tags include all of req.Labels, model downloads included (labelled
// sena.role). Asked for one session, it also finds that session's sandbox
// by its name when it has no tags: a sena that died between Modal's create
// and the tagging (kill -9, a lost answer) left it so, and `sena gc` and
// `sena down` find it this way.
func (p *Provider) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	mc, err := p.modal(ctx)
	if err != nil {
		return nil, err
	}
	// Only Sena's sandboxes, whatever the caller asks: the workspace may
	// run others, and `down --all` terminates what this returns.
	want := maps.Clone(req.Labels)
	if want == nil {
		want = map[string]string{}
	}
	want[core.LabelManaged] = "true"
	seq, err := mc.Sandboxes.List(ctx, &modalsdk.SandboxListParams{Tags: want})
	if err != nil {
		return nil, modalError("list sandboxes", err)
	}
	resp := &core.ListResponse{}
	for sb, err := range seq {
		if err != nil {
			return nil, modalError("list sandboxes", err)
		}
		tags, err := sb.GetTags(ctx)
		if isNotFound(err) {
			continue // ended since the listing
		}
		if err != nil {
			return nil, modalError("read tags of sandbox "+sb.SandboxID, err)
		}
		// Trust the tags, not only the server's filter.
		if !hasLabels(tags, want) {
			continue
		}
		resp.Sandboxes = append(resp.Sandboxes, core.SandboxInfo{
			Handle: core.Handle{Provider: Name, ID: sb.SandboxID},
			Labels: tags,
			Status: core.StatusRunning, // the listing holds running sandboxes only
		})
	}
	if session := req.Labels[core.LabelSession]; session != "" {
		untagged, err := untaggedByName(ctx, mc, session)
		if err != nil {
			return nil, err
		}
		if untagged != nil && !slices.ContainsFunc(resp.Sandboxes, func(s core.SandboxInfo) bool { return s.Handle.ID == untagged.Handle.ID }) {
			resp.Sandboxes = append(resp.Sandboxes, *untagged)
		}
	}
	return resp, nil
}

// untaggedByName finds the running sandbox named after a session when it
// has no tags at all; nil when there is none.
func untaggedByName(ctx context.Context, mc *modalsdk.Client, session string) (*core.SandboxInfo, error) {
	sb, err := mc.Sandboxes.FromName(ctx, appName, session, nil)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, modalError("look up sandbox "+session, err)
	}
	tags, err := sb.GetTags(ctx)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, modalError("read tags of sandbox "+sb.SandboxID, err)
	}
	if len(tags) > 0 {
		return nil, nil // tagged: the listing shows it if it matches
	}
	return &core.SandboxInfo{
		Handle: core.Handle{Provider: Name, ID: sb.SandboxID},
		Labels: map[string]string{},
		Status: core.StatusRunning,
	}, nil
}

func checkHandle(h core.Handle) error {
	if h.Provider != "" && h.Provider != Name {
		return core.Errorf(core.ErrInvalidConfig, "modal: handle belongs to provider %q", h.Provider)
	}
	if h.ID == "" || strings.ContainsAny(h.ID, " \t\n/") {
		return core.Errorf(core.ErrInvalidConfig, "modal: handle has no valid sandbox id (%q)", h.ID)
	}
	return nil
}

func hasLabels(tags, want map[string]string) bool {
	for k, v := range want {
		if tags[k] != v {
			return false
		}
	}
	return true
}
