package modal

import (
	"context"
	"maps"
	"slices"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// The download step: a small CPU sandbox with huggingface_hub that mounts
// the model volumes read-write and fetches what is missing.
const (
	downloadBase    = "python:3.12-slim"
	downloadTimeout = 3 * time.Hour
	// labelRole marks the helper sandboxes that are not a session's own.
	labelRole = "sena.role"
	roleFetch = "model-download"
	// exitConfig is the script's exit code when the Hub says the model,
	// revision or access is wrong (as opposed to a failure on the way).
	exitConfig = 3
)

var downloadSteps = []string{"RUN python3 -m pip install --no-cache-dir 'huggingface_hub>=0.23'"}

// downloadScript takes NAME REVISION PATH triples. A marker written after a
// complete snapshot makes the step a no-op next time, and an interrupted
// download resumes. HF_TOKEN, if set, comes from a Modal secret.
const downloadScript = `import os, sys
from huggingface_hub import snapshot_download
from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
args = sys.argv[1:]
for name, rev, path in zip(args[0::3], args[1::3], args[2::3]):
    marker = os.path.join(path, ".sena-complete")
    if os.path.exists(marker):
        print(f"{name}@{rev}: already in the volume", flush=True)
        continue
    print(f"{name}@{rev}: downloading", flush=True)
    try:
        snapshot_download(repo_id=name, revision=rev, local_dir=path)
    except (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as e:
        print(f"{name}@{rev}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(3)
    with open(marker, "w") as f:
        f.write(rev)
os.sync()
`

// modelVolumes returns each model's volume, read-only, by mount path, after
// making sure the weights are in it.
func (p *Provider) modelVolumes(ctx context.Context, mc *modalsdk.Client, app *modalsdk.App, req *core.CreateRequest, models []modelMount, progress func(core.Progress)) (map[string]*modalsdk.Volume, error) {
	if len(models) == 0 {
		return nil, nil
	}
	writable := map[string]*modalsdk.Volume{}
	readOnly := map[string]*modalsdk.Volume{}
	for _, m := range models {
		v, err := mc.Volumes.FromName(ctx, m.volume, &modalsdk.VolumeFromNameParams{CreateIfMissing: true})
		if err != nil {
			return nil, modalError("open volume "+m.volume, err)
		}
		writable[m.path] = v
		readOnly[m.path] = v.ReadOnly()
	}
	progress(core.Note("modal: checking %d model volume(s); weights not there yet are downloaded inside Modal", len(models)))
	if err := p.downloadModels(ctx, mc, app, req, models, writable); err != nil {
		return nil, err
	}
	return readOnly, nil
}

// downloadModels runs the download step and waits for it. Only HF_TOKEN is
// passed to it, not the session's other secrets.
func (p *Provider) downloadModels(ctx context.Context, mc *modalsdk.Client, app *modalsdk.App, req *core.CreateRequest, models []modelMount, volumes map[string]*modalsdk.Volume) error {
	hf := core.SandboxSpec{Env: map[string]string{}}
	if v := req.Spec.Env["HF_TOKEN"]; v != "" {
		hf.Env["HF_TOKEN"] = v
	}
	if slices.Contains(req.Spec.SecretNames, "HF_TOKEN") {
		hf.SecretNames = []string{"HF_TOKEN"}
	}
	secrets, err := p.sandboxSecrets(ctx, mc, &hf, nil)
	if err != nil {
		return err
	}
	command := []string{"python3", "-c", downloadScript}
	for _, m := range models {
		command = append(command, m.model.Name, revision(m.model), m.path)
	}
	image := mc.Images.FromRegistry(downloadBase, nil).DockerfileCommands(downloadSteps, nil)
	sb, err := mc.Sandboxes.Create(ctx, app, image, &modalsdk.SandboxCreateParams{
		Command: command,
		Secrets: secrets,
		Volumes: volumes,
		Timeout: downloadTimeout,
	})
	if err != nil {
		return modalError("start the model download", err)
	}
	// Tagged like the session, so that `sena ls`, `down --all` and `gc`
	// see it if this process dies while it runs.
	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[labelRole] = roleFetch
	if err := sb.SetTags(ctx, labels); err != nil {
		p.terminate(ctx, sb)
		return modalError("tag the model download", err)
	}
	code, err := sb.Wait(ctx)
	if err != nil {
		p.terminate(ctx, sb)
		return modalError("wait for the model download", err)
	}
	switch code {
	case 0:
		return nil
	case exitConfig:
		return core.Errorf(core.ErrInvalidConfig, "modal: model download in sandbox %s: the Hub has no such model or revision, or it is gated and HF_TOKEN does not grant access", sb.SandboxID)
	default:
		return core.Errorf(core.ErrUnavailable, "modal: model download in sandbox %s failed with exit code %d; see `modal container logs` or the Modal dashboard", sb.SandboxID, code)
	}
}
