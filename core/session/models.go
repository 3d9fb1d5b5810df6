package session

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sena-labs/sena/core"
)

// ModelFetcher downloads a model into a Hugging Face cache on the host
// (hub.Client is one).
type ModelFetcher interface {
	// Fetch returns the snapshot directory and commit of name@revision,
	// downloading what the cache lacks, and the cache root it lives under.
	// progress, if not nil, hears the download as one step.
	Fetch(ctx context.Context, name, revision string, progress func(core.Progress)) (snapshot, commit, cacheDir string, err error)
}

// Where container sandboxes see models: each visible model's repo folder of
// the host cache under sandboxModelCache, each hidden model's files under
// sandboxModels/hidden-N.
const (
	sandboxModelCache = "/sena/hf-cache"
	sandboxModels     = "/sena/models"
)

// modelPath is where a model's snapshot is inside the sandbox, "" when the
// provider places it (MODEL_<NAME>_PATH is then set on the provider's side).
type modelPath string

// prepareModels makes each model reachable in the sandbox and sets its
// MODEL_<NAME>_PATH. Providers that fetch models (Modal) received
// spec.Models in the plan; the others get the host's cache, shared or
// mounted read-only.
// It returns the records' view (hidden models anonymous) and, in the same
// order, the sandbox paths preloading reads.
func (m *Manager) prepareModels(ctx context.Context, cfg *core.SandboxConfig, info *core.ProviderInfo, spec *core.SandboxSpec) ([]Model, []modelPath, error) {
	if len(cfg.Models) == 0 {
		return nil, nil, nil
	}
	caps := info.Capabilities
	if caps.Honours(core.FieldModels) { // the provider fetches them (checkModelRoute)
		var out []Model
		for _, mc := range cfg.Models {
			out = append(out, Model{Name: mc.Name, Revision: mc.Revision, EnvVar: mc.EnvVar})
		}
		return out, make([]modelPath, len(out)), nil
	}
	if m.models == nil {
		return nil, nil, core.Errorf(core.ErrUnsupported, "this sena cannot download models (no model fetcher configured)")
	}
	var out []Model
	var paths []modelPath
	hidden := 0
	for _, mc := range cfg.Models {
		step := "model " + mc.Name
		if mc.Hidden {
			step = "hidden model" // its name stays out of the progress too
		}
		var progress func(core.Progress)
		if m.progressFunc != nil {
			progress = func(p core.Progress) {
				p.Step = step
				if mc.Hidden && !p.Finished {
					p.Message = "" // file names can give the model away
				}
				m.report(p)
			}
		}
		snap, commit, cacheDir, err := m.models.Fetch(ctx, mc.Name, mc.Revision, progress)
		if err != nil {
			return nil, nil, err
		}
		p := snap
		switch {
		case caps.SharesHostFS: // the sandbox reads the host's cache where it is
		case mc.Hidden:
			hidden++
			if p, err = mountHidden(spec, snap, hidden); err != nil {
				return nil, nil, err
			}
		default:
			if p, err = mountRepo(spec, cacheDir, snap); err != nil {
				return nil, nil, core.Errorf(core.ErrInvalidConfig, "model %s: %v", mc.Name, err)
			}
		}
		paths = append(paths, modelPath(p))
		if mc.Hidden {
			out = append(out, Model{Hidden: true, ID: fmt.Sprintf("hidden-%d", hidden)})
			continue
		}
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		spec.Env[mc.EnvVar] = p
		out = append(out, Model{Name: mc.Name, Revision: mc.Revision, Commit: commit, EnvVar: mc.EnvVar, Path: p})
	}
	if slices.ContainsFunc(spec.Mounts, func(m core.Mount) bool { return path.Dir(m.Target) == sandboxModelCache }) {
		// transformers and huggingface_hub find the mounted repos by name, offline.
		spec.Env["HF_HUB_CACHE"] = sandboxModelCache
	}
	return out, paths, nil
}

// mountRepo mounts one model's repo folder of the host cache (blobs,
// snapshots, refs) read-only at its place under sandboxModelCache, so the
// sandbox sees that model and no other cached one, in the layout
// huggingface_hub reads. It returns the snapshot's path in the sandbox.
func mountRepo(spec *core.SandboxSpec, cacheDir, snap string) (string, error) {
	rel, err := filepath.Rel(cacheDir, snap)
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if err != nil || len(parts) != 3 || parts[1] != "snapshots" || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("snapshot %s is not a snapshot of the cache %s", snap, cacheDir)
	}
	target := path.Join(sandboxModelCache, parts[0])
	if !slices.ContainsFunc(spec.Mounts, func(m core.Mount) bool { return m.Target == target }) {
		spec.Mounts = append(spec.Mounts, core.Mount{Source: filepath.Join(cacheDir, parts[0]), Target: target, ReadOnly: true})
	}
	return path.Join(target, parts[1], parts[2]), nil
}

// hiddenFiles are the files of a hidden model the sandbox gets: what
// loading needs, not the model card or anything else that names it.
var hiddenFiles = regexp.MustCompile(`\.(json|safetensors|bin|model|txt|tiktoken|py)$`)

// mountHidden mounts a hidden model's files one by one (each resolved from
// the snapshot's links to its blob) under a neutral directory, so no path,
// folder or file in the sandbox names the model. It returns that directory.
func mountHidden(spec *core.SandboxSpec, snap string, n int) (string, error) {
	dir := path.Join(sandboxModels, fmt.Sprintf("hidden-%d", n))
	entries, err := os.ReadDir(snap)
	if err != nil {
		return "", fmt.Errorf("read the hidden model's snapshot: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !hiddenFiles.MatchString(name) || strings.EqualFold(name, "README.md") {
			continue
		}
		src, err := filepath.EvalSymlinks(filepath.Join(snap, name))
		if err != nil {
			return "", fmt.Errorf("resolve a hidden model's file: %w", err)
		}
		if fi, err := os.Stat(src); err != nil || fi.IsDir() {
			continue
		}
		spec.Mounts = append(spec.Mounts, core.Mount{Source: src, Target: path.Join(dir, name), ReadOnly: true})
	}
	return dir, nil
}
