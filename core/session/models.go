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

// modelLoad is how preloading reaches one configured model: its path and,
// for a PEFT adapter, its base's.
type modelLoad struct {
	path    modelPath
	adapter *adapterLoad // nil: not an adapter (or not known to be one)
}

// CacheFetcher is a ModelFetcher that downloads into a cache other than its
// own, for models with a cache_dir (hub.Client is one).
type CacheFetcher interface {
	FetchInto(ctx context.Context, cacheDir, name, revision string, progress func(core.Progress)) (snapshot, commit, cache string, err error)
}

// prepareModels makes each model reachable in the sandbox and sets its
// MODEL_<NAME>_PATH. Providers that fetch models (Modal) received
// spec.Models in the plan; the others get the host's cache, shared or
// mounted read-only. A PEFT adapter brings its base model along.
// It returns the records' view (hidden models anonymous; an adapter's base
// right after it) with, in the same order, their sandbox paths, and, in
// the order of cfg.Models, what preloading reads.
func (m *Manager) prepareModels(ctx context.Context, cfg *core.SandboxConfig, info *core.ProviderInfo, spec *core.SandboxSpec) ([]Model, []modelPath, []modelLoad, error) {
	if len(cfg.Models) == 0 {
		return nil, nil, nil, nil
	}
	caps := info.Capabilities
	if caps.Honours(core.FieldModels) { // the provider fetches them (checkModelRoute)
		var out []Model
		var loads []modelLoad
		for _, mc := range cfg.Models {
			rec := Model{Name: mc.Name, Revision: mc.Revision, EnvVar: mc.EnvVar}
			if mc.Preload != nil {
				rec.Var, rec.TokenizerVar = mc.Preload.Var, mc.Preload.TokenizerVar
			}
			load := modelLoad{}
			if mc.BaseModel == "" { // an adapter without one is found out by preloading
				out, loads = append(out, rec), append(loads, load)
				continue
			}
			// The provider fetches the base too, as one more model.
			base, _ := core.ParseModel(mc.BaseModel) // validated
			base.EnvVar = baseEnvVar(cfg, spec, base)
			rec.Adapter, rec.Base = true, base.Name
			out = append(out, rec)
			if !slices.ContainsFunc(spec.Models, func(x core.ModelConfig) bool { return x.EnvVar == base.EnvVar }) {
				spec.Models = append(spec.Models, base)
				out = append(out, Model{Name: base.Name, Revision: base.Revision, EnvVar: base.EnvVar, BaseOf: mc.Name})
			}
			load.adapter = &adapterLoad{baseEnvVar: base.EnvVar}
			loads = append(loads, load)
		}
		return out, make([]modelPath, len(out)), loads, nil
	}
	if m.models == nil {
		return nil, nil, nil, core.Errorf(core.ErrUnsupported, "this sena cannot download models (no model fetcher configured)")
	}
	p := &modelPrep{m: m, ctx: ctx, caps: caps, spec: spec, cfg: cfg}
	var loads []modelLoad
	for _, mc := range cfg.Models {
		rec, path, err := p.place(mc, mc.Hidden)
		if err != nil {
			return nil, nil, nil, err
		}
		load := modelLoad{path: path}
		ad, err := readAdapterConfig(p.lastSnapshot)
		if err != nil {
			return nil, nil, nil, core.Errorf(core.ErrInvalidConfig, "model %s: %v", shownName(mc), err)
		}
		if ad != nil {
			rec.Adapter = true
			base, err := adapterBase(mc, ad)
			if err != nil {
				return nil, nil, nil, err
			}
			base.CacheDir = mc.CacheDir
			base.Hidden = mc.Hidden
			base.EnvVar = baseEnvVar(cfg, spec, base)
			at := len(p.out)
			p.out = append(p.out, rec)
			p.paths = append(p.paths, path)
			baseRec, basePath, err := p.placeBase(mc, base)
			if err != nil {
				return nil, nil, nil, err
			}
			load.adapter = &adapterLoad{basePath: basePath, baseEnvVar: base.EnvVar}
			p.out[at].Base = base.Name
			if mc.Hidden {
				load.adapter.baseEnvVar = ""
				load.adapter.config = blindAdapterConfig(ad)
				p.out[at].Base = baseRec.ID
			}
			loads = append(loads, load)
			continue
		}
		p.out = append(p.out, rec)
		p.paths = append(p.paths, path)
		loads = append(loads, load)
	}
	if slices.ContainsFunc(spec.Mounts, func(m core.Mount) bool { return path.Dir(m.Target) == sandboxModelCache }) {
		// transformers and huggingface_hub find the mounted repos by name, offline.
		spec.Env["HF_HUB_CACHE"] = sandboxModelCache
	}
	return p.out, p.paths, loads, nil
}

// modelPrep fetches models and places them in the sandbox, one at a time.
type modelPrep struct {
	m      *Manager
	ctx    context.Context
	caps   core.Capabilities
	spec   *core.SandboxSpec
	cfg    *core.SandboxConfig
	hidden int // hidden models placed so far
	out    []Model
	paths  []modelPath
	// lastSnapshot is the host snapshot of the model place fetched last.
	lastSnapshot string
	// placed are the models fetched so far, by name@revision: an adapter's
	// base that is also listed is placed once.
	placed map[string]placedModel
}

type placedModel struct {
	rec  Model
	path modelPath
}

// place fetches one model and makes it reachable: the host's cache where
// the sandbox shares it, else its repo folder mounted, or for a hidden
// model its files one by one under a neutral name.
func (p *modelPrep) place(mc core.ModelConfig, hidden bool) (Model, modelPath, error) {
	step := "model " + mc.Name
	if hidden {
		step = "hidden model" // its name stays out of the progress too
	}
	var progress func(core.Progress)
	if p.m.progressFunc != nil {
		progress = func(pr core.Progress) {
			pr.Step = step
			if hidden && !pr.Finished {
				pr.Message = "" // file names can give the model away
			}
			p.m.report(pr)
		}
	}
	snap, commit, cacheDir, err := p.m.fetch(p.ctx, mc, progress)
	if err != nil {
		return Model{}, "", err
	}
	p.lastSnapshot = snap
	where := snap
	switch {
	case p.caps.SharesHostFS: // the sandbox reads the host's cache where it is
	case hidden:
		p.hidden++
		if where, err = mountHidden(p.spec, snap, p.hidden); err != nil {
			return Model{}, "", err
		}
	default:
		if where, err = mountRepo(p.spec, cacheDir, snap); err != nil {
			return Model{}, "", core.Errorf(core.ErrInvalidConfig, "model %s: %v", mc.Name, err)
		}
	}
	if p.placed == nil {
		p.placed = map[string]placedModel{}
	}
	var rec Model
	if hidden {
		rec = Model{Hidden: true, ID: fmt.Sprintf("hidden-%d", p.hidden)}
	} else {
		if p.spec.Env == nil {
			p.spec.Env = map[string]string{}
		}
		p.spec.Env[mc.EnvVar] = where
		rec = Model{Name: mc.Name, Revision: mc.Revision, Commit: commit, EnvVar: mc.EnvVar, Path: where}
	}
	if mc.Preload != nil {
		rec.Var, rec.TokenizerVar = mc.Preload.Var, mc.Preload.TokenizerVar
	}
	p.placed[mc.Name+"@"+mc.Revision] = placedModel{rec, modelPath(where)}
	return rec, modelPath(where), nil
}

// placeBase places an adapter's base model, once: a base that is also
// listed as a model (or the base of another adapter) is not fetched again.
func (p *modelPrep) placeBase(adapter, base core.ModelConfig) (Model, modelPath, error) {
	if pm, ok := p.placed[base.Name+"@"+base.Revision]; ok && pm.rec.Hidden == base.Hidden {
		return pm.rec, pm.path, nil
	}
	rec, where, err := p.place(base, base.Hidden)
	if err != nil {
		if adapter.Hidden {
			return Model{}, "", core.Errorf(core.ErrInvalidConfig, "the base model of a hidden adapter could not be fetched: %s (check its base_model)", blindFetchError(err))
		}
		return Model{}, "", fmt.Errorf("model %s is a PEFT adapter of %s, which could not be fetched: %w (give the right base with base_model)", adapter.Name, base.Name, err)
	}
	rec.BaseOf = adapter.Name
	if adapter.Hidden {
		rec.BaseOf = p.out[len(p.out)-1].ID
	}
	rec.Var, rec.TokenizerVar = "", ""
	p.out = append(p.out, rec)
	p.paths = append(p.paths, where)
	return rec, where, nil
}

// fetch downloads a model into its cache_dir, or the fetcher's own cache.
func (m *Manager) fetch(ctx context.Context, mc core.ModelConfig, progress func(core.Progress)) (snapshot, commit, cacheDir string, err error) {
	if mc.CacheDir == "" {
		return m.models.Fetch(ctx, mc.Name, mc.Revision, progress)
	}
	cf, ok := m.models.(CacheFetcher)
	if !ok {
		return "", "", "", core.Errorf(core.ErrUnsupported, "model %s: cache_dir needs a model fetcher that can download into another cache (this sena's cannot)", mc.Name)
	}
	dir, err := filepath.Abs(expandHome(mc.CacheDir))
	if err != nil {
		return "", "", "", core.Errorf(core.ErrInvalidConfig, "model %s: cache_dir %s: %v", mc.Name, mc.CacheDir, err)
	}
	return cf.FetchInto(ctx, dir, mc.Name, mc.Revision, progress)
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// shownName is how errors name a model: hidden ones not at all.
func shownName(mc core.ModelConfig) string {
	if mc.Hidden {
		return "(hidden)"
	}
	return mc.Name
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
		// An adapter's config names its base: preloading passes peft a
		// copy without the name instead.
		if !hiddenFiles.MatchString(name) || strings.EqualFold(name, "README.md") || name == adapterConfigFile {
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
