package modal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"sync"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub"
)

// The download step: per model, a small CPU sandbox with huggingface_hub
// that mounts the model's volume read-write and fetches what is missing.
// It is named after the volume, so that two `up`s of one model never write
// the volume at once: the second finds the name taken and waits.
const (
	downloadBase    = "python:3.12-slim"
	downloadTimeout = 3 * time.Hour
	// labelRole marks the helper sandboxes that are not a session's own.
	labelRole = "sena.role"
	roleFetch = "model-download"
	// downloadManifest is where the download's manifest is written through
	// the filesystem API; the script waits for it (and its ".ready").
	downloadManifest = "/tmp/sena-download.json"
	manifestWait     = 5 * time.Minute
	// The script's exit codes besides 0: the Hub refuses the model
	// (gated, missing), the download is incomplete or failed on the way,
	// the manifest never came.
	exitConfig     = 3
	exitIncomplete = 4
	exitNoManifest = 5
	// markerFile is what a complete download leaves in the volume; the
	// session's bootstrap checks it.
	markerFile = ".sena-complete"
)

// untaggedGrace is how long a download sandbox found without tags is given
// to get them (its creator tags it right after creating it) before it is
// taken for one whose creator is gone.
var untaggedGrace = 3 * time.Second

var downloadSteps = []string{"RUN python3 -m pip install --no-cache-dir 'huggingface_hub>=0.23'"}

// downloadScript fetches one model revision into its volume, as the
// manifest (written through the filesystem API) lists it: the commit the
// Hub resolved on the host and every selected file with its size. It
// removes the marker first, checks every file and size after
// snapshot_download (which returns an existing directory as is when the
// Hub is unreachable), and only then writes the marker, with the commit,
// and syncs the volume. argv: MANIFEST WAIT_SECONDS PATH (the volume's
// mount point: paths go in argv, where the command line shows them).
const downloadScript = `import glob, json, os, subprocess, sys, time
def log(*a):
    print(*a, file=sys.stderr, flush=True)
manifest, wait, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + wait
while not os.path.exists(manifest + ".ready"):
    if time.monotonic() > deadline:
        log(f"sena download: no manifest within {wait:.0f}s (did sena stop during up?)")
        sys.exit(5)
    time.sleep(0.2)
with open(manifest) as f:
    m = json.load(f)
repo, commit, files = m["repo"], m["commit"], m["files"]
marker = os.path.join(path, ".sena-complete")
def missing():
    bad = []
    for name, size in files.items():
        p = os.path.join(path, name)
        if not os.path.isfile(p):
            bad.append(f"{name} (missing)")
        elif os.path.getsize(p) != size:
            bad.append(f"{name} ({os.path.getsize(p)} of {size} bytes)")
    return bad
try:
    with open(marker) as f:
        done = json.load(f)
except (OSError, ValueError):
    done = {}
if done.get("commit") == commit and done.get("files") == files and not missing():
    log(f"{repo}@{commit}: already in the volume")
    sys.exit(0)
try:
    os.remove(marker)
except FileNotFoundError:
    pass
log(f"{repo}@{commit}: downloading {len(files)} files")
from huggingface_hub import snapshot_download
from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
try:
    snapshot_download(repo_id=repo, revision=commit, local_dir=path, allow_patterns=[glob.escape(n) for n in files])
except (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as e:
    log(f"{repo}@{commit}: {type(e).__name__}: {e}")
    sys.exit(3)
except Exception as e:
    log(f"{repo}@{commit}: download failed: {type(e).__name__}: {e}")
    sys.exit(4)
bad = missing()
if bad:
    log(f"{repo}@{commit}: incomplete download, not marked complete: " + ", ".join(bad))
    sys.exit(4)
tmp = marker + ".tmp"
with open(tmp, "w") as f:
    json.dump({"repo": repo, "revision": m["revision"], "commit": commit, "files": files}, f)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, marker)
os.sync()
subprocess.run(["sync", path], check=False)  # commits a volume mounted in a sandbox
log(f"{repo}@{commit}: complete")
`

// manifest is what one download sandbox is told to fetch.
type manifest struct {
	Repo     string           `json:"repo"`
	Revision string           `json:"revision"`
	Commit   string           `json:"commit"`
	Files    map[string]int64 `json:"files"`
}

// resolveModels asks the Hub, from this machine and with the token the hub
// client would use (the config's HF_TOKEN secret first), which commit and
// files each model is, before any sandbox starts: a gated model without a
// token, a missing model and an unreachable Hub fail here. It returns the
// token for the download sandboxes.
func resolveModels(ctx context.Context, spec *core.SandboxSpec, models []modelMount) ([]*hub.Remote, string, error) {
	if len(models) == 0 {
		return nil, "", nil
	}
	c := hub.NewClient(&hub.Options{Token: spec.Env["HF_TOKEN"]})
	token, _ := c.Token()
	remotes := make([]*hub.Remote, len(models))
	for i, m := range models {
		r, err := c.Resolve(ctx, m.model.Name, revision(m.model), nil)
		if err != nil {
			return nil, "", fmt.Errorf("modal: before starting any sandbox, asked the Hub about %s: %w", m.model.Name, err)
		}
		remotes[i] = r
	}
	return remotes, token, nil
}

// modelVolumes makes sure each model's volume holds its revision, running
// the downloads in parallel, and returns the volumes read-only by mount
// path with what the session's bootstrap checks.
func (p *Provider) modelVolumes(ctx context.Context, mc *modalsdk.Client, app *modalsdk.App, req *core.CreateRequest, models []modelMount, remotes []*hub.Remote, token string, progress func(string)) (map[string]*modalsdk.Volume, []modelCheck, error) {
	if len(models) == 0 {
		return nil, nil, nil
	}
	env := map[string]string{"HF_HUB_DISABLE_PROGRESS_BARS": "1"}
	if token != "" {
		env["HF_TOKEN"] = token
	}
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		env["HF_ENDPOINT"] = e // the Hub the host asked
	}
	// Only the download sees the token: an ephemeral secret of its own.
	secret, err := mc.Secrets.FromMap(ctx, env, nil)
	if err != nil {
		return nil, nil, modalError("send the download's environment", err)
	}
	readOnly := map[string]*modalsdk.Volume{}
	var checks []modelCheck
	volumes := make([]*modalsdk.Volume, len(models))
	for i, m := range models {
		v, err := mc.Volumes.FromName(ctx, m.volume, &modalsdk.VolumeFromNameParams{CreateIfMissing: true})
		if err != nil {
			return nil, nil, modalError("open volume "+m.volume, err)
		}
		volumes[i] = v
		readOnly[m.path] = v.ReadOnly()
		checks = append(checks, modelCheck{path: m.path, commit: remotes[i].Commit})
	}
	progress(fmt.Sprintf("modal: checking %d model volume(s); weights not there yet are downloaded inside Modal", len(models)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(models))
	var wg sync.WaitGroup
	for i := range models {
		wg.Go(func() {
			errs[i] = p.download(ctx, mc, app, req, models[i], remotes[i], volumes[i], secret, progress)
			if errs[i] != nil {
				cancel() // the others stop too, terminating their sandboxes
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return readOnly, checks, nil
}

// download fills one volume, waiting first for any other download into it.
func (p *Provider) download(ctx context.Context, mc *modalsdk.Client, app *modalsdk.App, req *core.CreateRequest, m modelMount, remote *hub.Remote, vol *modalsdk.Volume, secret *modalsdk.Secret, progress func(string)) error {
	image := mc.Images.FromRegistry(downloadBase, nil).DockerfileCommands(downloadSteps, nil)
	man := manifest{Repo: remote.Repo, Revision: remote.Revision, Commit: remote.Commit, Files: map[string]int64{}}
	for _, f := range remote.Files {
		man.Files[f.Name] = f.Size
	}
	data, err := json.Marshal(man)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		build := &buildLog{progress: progress}
		sb, err := mc.Sandboxes.Create(withBuildLog(ctx, build), app, image, &modalsdk.SandboxCreateParams{
			Command: []string{"python3", "-c", downloadScript, downloadManifest, strconv.Itoa(int(manifestWait.Seconds())), m.path},
			Secrets: []*modalsdk.Secret{secret},
			Volumes: map[string]*modalsdk.Volume{m.path: vol},
			Timeout: downloadTimeout,
			Name:    m.volume,
		})
		var failed modalsdk.RemoteError
		if errors.As(err, &failed) {
			return build.error(err) // the download's image did not build
		}
		var taken modalsdk.AlreadyExistsError
		if errors.As(err, &taken) && attempt < 5 {
			if err := p.waitForDownload(ctx, mc, m, req, progress); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			// The answer may be lost while the sandbox runs: find it by name.
			p.cleanupByName(ctx, mc, m.volume, err, func(tags map[string]string) bool {
				return len(tags) == 0 || tags[core.LabelSession] == req.SessionID
			})
			return modalError("start the download of "+m.model.Name, err)
		}
		return p.runDownload(ctx, sb, req, m, remote, data, progress)
	}
}

// runDownload tags a started download, hands it its manifest and waits.
func (p *Provider) runDownload(ctx context.Context, sb *modalsdk.Sandbox, req *core.CreateRequest, m modelMount, remote *hub.Remote, manifest []byte, progress func(string)) error {
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
	progress(fmt.Sprintf("modal: %s@%s (commit %.12s): volume %s, download sandbox %s", remote.Repo, remote.Revision, remote.Commit, m.volume, sb.SandboxID))
	if err := deliver(ctx, sb, downloadManifest, manifest); err != nil && !errors.Is(err, errExited) {
		p.terminate(ctx, sb)
		return err
	}
	code, err := sb.Wait(ctx)
	if err != nil {
		p.terminate(ctx, sb)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return modalError("wait for the model download", err)
	}
	if code == 0 {
		return nil
	}
	log := logTail(sb.Stderr)
	if log != "" {
		log = "; its log ends with:\n" + log
	}
	switch code {
	case exitConfig:
		return core.Errorf(core.ErrInvalidConfig, "modal: the download of %s in sandbox %s was refused by the Hub%s", m.model.Name, sb.SandboxID, log)
	case exitIncomplete:
		return core.Errorf(core.ErrUnavailable, "modal: the download of %s in sandbox %s did not complete (volume %s is not marked complete; run up again to resume)%s", m.model.Name, sb.SandboxID, m.volume, log)
	default:
		return core.Errorf(core.ErrUnavailable, "modal: the download of %s in sandbox %s failed with exit code %d%s", m.model.Name, sb.SandboxID, code, log)
	}
}

// waitForDownload deals with a download sandbox whose name (the volume's)
// is taken: another session's download into the same volume is waited for;
// one without tags after untaggedGrace, or tagged with this session, has
// lost its creator (a sena that died, or an answer this one lost) and is
// terminated. Either way the caller tries again.
func (p *Provider) waitForDownload(ctx context.Context, mc *modalsdk.Client, m modelMount, req *core.CreateRequest, progress func(string)) error {
	holder, err := mc.Sandboxes.FromName(ctx, appName, m.volume, nil)
	if isNotFound(err) {
		return nil // it ended meanwhile
	}
	if err != nil {
		return modalError("find the download into volume "+m.volume, err)
	}
	tags, err := holder.GetTags(ctx)
	if err == nil && len(tags) == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(untaggedGrace):
		}
		tags, err = holder.GetTags(ctx)
	}
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return modalError("read the tags of download sandbox "+holder.SandboxID, err)
	}
	if len(tags) == 0 || tags[core.LabelSession] == req.SessionID {
		p.logger.InfoContext(ctx, "modal: terminating a download sandbox whose creator is gone", "sandbox_id", holder.SandboxID, "volume", m.volume)
		p.terminate(ctx, holder)
		return nil
	}
	progress(fmt.Sprintf("modal: session %s is downloading %s into volume %s (sandbox %s); waiting for it", tags[core.LabelSession], m.model.Name, m.volume, holder.SandboxID))
	if _, err := holder.Wait(ctx); err != nil && !isNotFound(err) {
		if ctx.Err() != nil {
			return ctx.Err() // theirs: leave it running
		}
		return modalError("wait for download sandbox "+holder.SandboxID, err)
	}
	return nil
}

func revision(m core.ModelConfig) string {
	if m.Revision == "" {
		return "main"
	}
	return m.Revision
}
