package session

import (
	"context"
	"path"
	"path/filepath"
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

// sandboxModelCache is where container sandboxes see the host's model cache.
const sandboxModelCache = "/sena/hf-cache"

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
	mounted := map[string]bool{}
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
		if !caps.SharesHostFS {
			rel, err := filepath.Rel(cacheDir, snap)
			if err != nil || strings.HasPrefix(rel, "..") {
				return nil, nil, core.Errorf(core.ErrInvalidConfig, "model %s: snapshot %s is outside its cache %s", mc.Name, snap, cacheDir)
			}
			p = path.Join(sandboxModelCache, filepath.ToSlash(rel))
			if !mounted[cacheDir] {
				spec.Mounts = append(spec.Mounts, core.Mount{Source: cacheDir, Target: sandboxModelCache, ReadOnly: true})
				mounted[cacheDir] = true
			}
		}
		paths = append(paths, modelPath(p))
		if mc.Hidden {
			out = append(out, Model{Hidden: true})
			continue
		}
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		v := mc.EnvVar
		spec.Env[v] = p
		out = append(out, Model{Name: mc.Name, Revision: mc.Revision, Commit: commit, EnvVar: v, Path: p})
	}
	return out, paths, nil
}
