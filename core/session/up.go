package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
)

// Up brings a sandbox up, starts its kernel and prepares its notebook. It
// returns once the kernel answers. Whatever the provider cannot honour is
// refused before anything is created. On any failure, and when ctx is
// cancelled (Ctrl-C), everything it created is destroyed and the record
// removed.
//
// A warm sandbox whose pool matches cfg (PoolKeys) is taken instead of
// making one: what is per session is applied to it (handover.go), and a
// handover that fails leaves nothing behind and falls back to the cold path.
func (m *Manager) Up(ctx context.Context, cfg *core.SandboxConfig) (*Record, error) {
	start := time.Now()
	rec, err := m.upFromPool(ctx, cfg, start)
	if rec != nil || err != nil {
		return rec, err
	}
	u := &upRun{m: m, cfg: cfg, start: start}
	return u.run(ctx)
}

// run brings the sandbox up, step by step, for a session or (with pool
// set) as a warm pool's sandbox.
func (u *upRun) run(ctx context.Context) (*Record, error) {
	m := u.m
	defer u.release()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"plan", u.checkPlan},
		{"record", u.record},
		{"fetch models", u.fetchModels},
		{"create sandbox", u.create},
		{"wait for jupyter", u.waitJupyter},
		{"start kernel", u.startKernel},
		{"prepare kernel", u.prepareKernel},
		{"scoped interface", u.loadScoped},
		{"verify environment", u.verifyEnvironment},
		{"resume", u.resume},
		{"ready", u.ready},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			m.log.Debug("up failed", "step", s.name, "err", err)
			if cerr := u.cleanup(); cerr != nil {
				return nil, fmt.Errorf("%w; and what it started could not be confirmed removed (%v): session %s is kept as abandoned, and `sena gc` removes what is left", err, cerr, u.rec.ID)
			}
			return nil, err
		}
	}
	return u.rec, nil
}

// upRun is one Up in progress: what its steps made so far, so a failed
// step can undo exactly that.
type upRun struct {
	m     *Manager
	cfg   *core.SandboxConfig
	start time.Time

	prov    core.Provider
	close   func() // releases prov
	info    *core.ProviderInfo
	plan    *Plan
	models  []modelPath // in the order of rec.Models
	loads   []modelLoad // in the order of cfg.Models
	rec     *Record
	stored  bool // the record is in the store
	token   string
	srv     *kernel.Server
	session *Session
	image   string
	// source is the notebook --resume or --continue names, read at plan.
	source     *notebook.Notebook
	sourcePath string
	snap       *fromSnapshot

	// pool, when set, is the warm pool this sandbox is made for.
	pool *Pool
	// fetch is the models' download while it runs beside the sandbox's
	// start (nil when it ran before, or there is none).
	fetch *modelFetch
}

func (u *upRun) mark(phase string) {
	u.markAt(phase, time.Since(u.start).Seconds())
}

// markAt records a phase that ended at seconds, in order among the others
// (a download that ran beside other steps ends between them).
func (u *upRun) markAt(phase string, seconds float64) {
	i := len(u.rec.Phases)
	for i > 0 && u.rec.Phases[i-1].Seconds > seconds {
		i--
	}
	u.rec.Phases = slices.Insert(u.rec.Phases, i, Phase{Name: phase, Seconds: seconds})
}

// plan opens the provider and checks the config against what it declares.
func (u *upRun) checkPlan(ctx context.Context) error {
	if err := u.cfg.Normalize(); err != nil {
		return err
	}
	if err := u.cfg.Validate(); err != nil {
		return err
	}
	prov, release, err := u.m.providers.Open(ctx, u.cfg.Provider, passEnvOf(u.cfg))
	if err != nil {
		return err
	}
	u.prov, u.close = prov, release
	if u.info, err = prov.Info(ctx); err != nil {
		return err
	}
	if u.plan, err = PlanSandbox(u.cfg, u.info, u.m.skills); err != nil {
		return err
	}
	if u.source, u.sourcePath, err = readSourceNotebook(u.cfg); err != nil {
		return err
	}
	repos, err := cloneRepos(ctx, u.cfg, u.info.Capabilities, &u.plan.Spec)
	if err != nil {
		return err
	}
	scoped, err := readScoped(u.cfg)
	if err != nil {
		return err
	}
	if u.snap, err = u.m.planFromSnapshot(u.cfg, u.info.Capabilities, &u.plan.Spec); err != nil {
		return err
	}
	skills := u.plan.Skills
	if u.snap != nil { // what the snapshot's files hold goes on sys.path too
		for _, sk := range u.snap.meta.Skills {
			if !slices.ContainsFunc(skills, func(x Skill) bool { return x.Path == sk.Path }) {
				skills = append(skills, sk)
			}
		}
		for _, r := range u.snap.meta.Repos {
			if !slices.ContainsFunc(repos, func(x Repo) bool { return x.Path == r.Path }) {
				r.Install = "" // ran when the snapshot's session started
				repos = append(repos, r)
			}
		}
	}
	u.rec = &Record{
		Version: RecordVersion, ID: newID(), Provider: u.cfg.Provider, Mode: u.cfg.Mode, State: StateStarting,
		Config: *u.cfg, CreatedAt: time.Now().UTC(), UpOwner: upOwner(), Skills: skills, Repos: repos,
		Scoped: scoped,
	}
	u.rec.Notebook = u.rec.ID + ".ipynb"
	if p := u.pool; p != nil {
		u.rec.Warm = &Warm{Pool: p.ID, Env: p.Env, Preload: p.Preload, ExpiresAt: p.ExpiresAt, SecretStore: u.info.Capabilities.SecretStore}
	}
	u.token, err = u.m.store.Token(u.rec.ID)
	return err
}

// fetchModels makes the models reachable in the sandbox. Where the
// sandbox reads the host's cache in place (the local provider), nothing of
// the sandbox but the models' variables depends on the download, so it runs
// beside the sandbox's start, and prepareKernel joins it: the kernel starts
// and imports torch and transformers meanwhile. Elsewhere the mounts must
// be known first, and it runs before the sandbox is made.
func (u *upRun) fetchModels(ctx context.Context) error {
	caps := u.info.Capabilities
	if len(u.cfg.Models) > 0 && caps.SharesHostFS && !caps.Honours(core.FieldModels) && u.m.models != nil {
		u.fetch = u.m.startFetch(ctx, u.cfg, u.info, u.start)
		return nil
	}
	models, paths, loads, err := u.m.prepareModels(ctx, u.cfg, u.info, &u.plan.Spec)
	if err != nil {
		return err
	}
	u.rec.Models, u.models, u.loads = models, paths, loads
	if len(models) > 0 {
		u.mark("models_fetched")
	}
	// Mounts and variables for the host's cache were added: check again.
	return u.info.Capabilities.CheckSpec(u.cfg.Provider, &u.plan.Spec)
}

// record stores the session before the sandbox exists, so that `sena down`
// works even if this process dies half-way; the backend labels make gc work
// if even the record write is lost.
func (u *upRun) record(context.Context) error {
	if err := u.m.store.Put(u.rec); err != nil {
		return err
	}
	u.stored = true
	return core.PrepareWorkDir(u.m.store.SandboxDir(u.rec.ID))
}

func (u *upRun) create(ctx context.Context) error {
	labels := u.m.labels(u.rec.ID)
	if u.pool != nil {
		u.m.progress("creating warm %s sandbox %s for pool %s", u.cfg.Provider, u.rec.ID, u.pool.ID)
		labels = u.m.poolLabels(u.rec.ID, u.pool.ID)
	} else {
		u.m.progress("creating %s sandbox %s", u.cfg.Provider, u.rec.ID)
	}
	resp, err := u.prov.Create(ctx, &core.CreateRequest{
		SessionID:    u.rec.ID,
		Labels:       labels,
		Spec:         u.plan.Spec,
		JupyterToken: u.token,
		WorkDir:      u.m.store.SandboxDir(u.rec.ID),
		Progress:     u.m.progressFunc,
	})
	if err != nil {
		return err
	}
	u.rec.Handle, u.rec.Endpoint, u.image = resp.Handle, resp.Endpoint, resp.Image
	u.mark("sandbox_created")
	return u.m.store.Put(u.rec)
}

func (u *upRun) waitJupyter(ctx context.Context) error {
	u.m.progress("waiting for Jupyter at %s", u.rec.Endpoint.URL)
	srv, err := kernel.NewServer(u.rec.Endpoint.URL, u.token)
	if err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, u.m.readyTimeout)
	defer cancel()
	if err := srv.WaitReady(readyCtx); err != nil {
		return fmt.Errorf("jupyter in sandbox %s did not become ready: %w", u.rec.ID, err)
	}
	u.srv = srv
	u.mark("jupyter_ready")
	u.rec.UI = probeUI(ctx, u.rec.Endpoint.URL, u.token)
	return nil
}

func (u *upRun) startKernel(ctx context.Context) error {
	var base *notebook.Notebook
	switch {
	case u.cfg.Continue != "":
		base = continuedNotebook(u.source)
	case u.snap != nil:
		base = continuedNotebook(u.snap.notebook)
	}
	s, err := startSession(ctx, u.m.store, u.srv, u.rec, base)
	if err != nil {
		return err
	}
	u.session = s
	u.mark("kernel_ready")
	return nil
}

// prepareKernel puts the workspace on sys.path, preloads models and runs
// the init code, which is recorded as a cell so the experiment shows it.
// Init and preload code is Python even in CLI sessions. torch and
// transformers are imported while the models download (fetchModels), and
// each model's code before its weights are read. A warm pool's sandbox
// instead imports what its sessions will (warmUp), records nothing, and
// runs no init code (that is per session).
func (u *upRun) prepareKernel(ctx context.Context) error {
	if u.snap != nil {
		u.m.progress("unpacking snapshot %s", u.snap.meta.Name)
		if err := callKernelside(ctx, u.session.kernel(), "snapshot_unpack", map[string]any{"path": snapshotArchive}, nil, nil); err != nil {
			return fmt.Errorf("snapshot %s: %w", u.snap.meta.Name, err)
		}
	}
	if err := setupKernel(ctx, u.session.kernel(), u.rec.Skills, u.rec.Repos); err != nil {
		return err
	}
	if err := installRepos(ctx, u.session, u.rec.Repos, u.m.progress); err != nil {
		return err
	}
	pyRec := *u.rec
	pyRec.Mode = core.ModeNotebook
	py := &Session{Record: &pyRec, store: u.session.store, srv: u.session.srv, k: u.session.kernel()}
	preload := hasPreload(u.cfg.Models)
	if preload {
		if err := u.m.preloadImports(ctx, py, u.gpu()); err != nil {
			return err
		}
		u.mark("torch_ready")
	}
	if err := u.joinFetch(ctx); err != nil {
		return err
	}
	if u.pool != nil {
		for _, l := range u.loads {
			if l.adapter != nil {
				return core.Errorf(core.ErrUnsupported, "a warm pool does not hold PEFT adapters yet: start the session with `sena up`, without a pool")
			}
		}
		return u.warmUp(ctx, py)
	}
	if preload {
		if err := u.m.preloadWeights(ctx, py, u.cfg.Models, u.loads, u.mark, false); err != nil {
			return err
		}
	}
	return u.runInit(ctx, py)
}

// runInit runs the workspace's init code as the notebook's next cell.
func (u *upRun) runInit(ctx context.Context, py *Session) error {
	if strings.TrimSpace(u.plan.InitCode) == "" {
		return nil
	}
	u.m.progress("running init code")
	ex, err := py.Execute(ctx, u.plan.InitCode, nil)
	if err != nil {
		return fmt.Errorf("init code: %w", err)
	}
	if ex.Result.Status != "ok" {
		return core.Errorf(core.ErrInvalidConfig, "init code raised %s: %s (the notebook %s shows the traceback)", ex.Result.EName, ex.Result.EValue, u.m.store.NotebookPath(u.rec.ID))
	}
	return nil
}

func (u *upRun) gpu() bool {
	g, _ := core.ParseGPU(u.cfg.GPU)
	return g.Kind != ""
}

// verifyEnvironment checks inside the kernel that the environment is what
// was asked, records what was found (the manifest) and writes it into the
// notebook's metadata, so the notebook says what produced it.
func (u *upRun) verifyEnvironment(ctx context.Context) error {
	u.m.progress("checking the environment in the kernel")
	env, err := verifyEnvironment(ctx, u.session.kernel(), u.cfg, u.rec.Models, u.models, u.m.version)
	if err != nil {
		return err
	}
	env.Image = u.image
	env.Repos = u.rec.Repos
	u.rec.Environment = env
	u.mark("environment_checked")
	return u.session.change(ctx, func(nb *notebook.Notebook) error {
		nb.Metadata["sena"] = mustJSON(env)
		return nil
	})
}

// loadScoped runs a scoped session's interface in the kernel, once the
// models and init code it may use are there.
func (u *upRun) loadScoped(ctx context.Context) error {
	if u.rec.Scoped == nil {
		return nil
	}
	if err := loadScoped(ctx, u.session, u.rec.Scoped); err != nil {
		return err
	}
	u.mark("scoped_loaded")
	return nil
}

// resume re-runs the --resume notebook's cells once the kernel is ready
// (workspace, models and init code in place), as the researcher ran them.
func (u *upRun) resume(ctx context.Context) error {
	if u.cfg.Resume == "" {
		return nil
	}
	r, err := resume(ctx, u.session, u.source, u.sourcePath, u.m.progress)
	if err != nil {
		return err
	}
	u.rec.Resumed = r
	u.mark("resumed")
	return nil
}

func (u *upRun) ready(context.Context) error {
	u.rec.State, u.rec.UpOwner = StateReady, ""
	u.mark("ready")
	if u.pool != nil {
		u.rec.State = StateWarm
		u.rec.Warm.WarmedAt = time.Now().UTC()
	}
	return u.m.store.Put(u.rec)
}

func (u *upRun) release() {
	if u.fetch != nil {
		u.fetch.cancel()
		<-u.fetch.done
	}
	if u.session != nil {
		u.session.Close()
	}
	if u.close != nil {
		u.close()
	}
}

// cleanup destroys what a failed or cancelled Up created, with a fresh
// context: the caller's may be the cancelled one. A plugin that died (in
// Create, say) cannot clean up: a fresh one is started, which finds the
// sandbox by its labels. When removal cannot be confirmed, the record stays,
// marked abandoned, for `sena down` or `sena gc`.
func (u *upRun) cleanup() error {
	if !u.stored {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := u.destroy(ctx)
	if errors.Is(err, core.ErrPluginFailed) {
		if prov, release, oerr := u.m.providers.Open(ctx, u.cfg.Provider, passEnvOf(u.cfg)); oerr == nil {
			u.close()
			u.prov, u.close = prov, release
			err = u.destroy(ctx)
		}
	}
	if err != nil {
		u.m.log.Warn("cleanup after failed up", "session", u.rec.ID, "err", err)
		u.rec.State, u.rec.UpOwner = StateAbandoned, ""
		_ = u.m.store.Put(u.rec)
		return err
	}
	_ = os.RemoveAll(u.m.store.SandboxDir(u.rec.ID))
	_ = u.m.store.Delete(u.rec.ID)
	return nil
}

// destroy stops the session's sandbox: by its handle, or, when Create was
// cut short before returning one, by its labels.
func (u *upRun) destroy(ctx context.Context) error {
	if u.rec.Handle.ID != "" {
		return u.prov.Destroy(ctx, &core.DestroyRequest{Handle: u.rec.Handle})
	}
	return u.m.destroyByLabel(ctx, u.prov, u.rec.ID)
}

// startSession starts a session's kernel through Jupyter's sessions API (so
// JupyterLab opening the notebook binds the same kernel), connects to it,
// and saves the session's notebook (base, or an empty one) with the
// kernel's language info. On error the kernel it started may remain;
// callers tear down.
func startSession(ctx context.Context, store *Store, srv *kernel.Server, rec *Record, base *notebook.Notebook) (*Session, error) {
	js, err := srv.StartSession(ctx, rec.Notebook, "python3")
	if err != nil {
		return nil, fmt.Errorf("start kernel: %w", err)
	}
	rec.KernelID = js.Kernel.ID
	// A heavily loaded server sometimes drops a new kernel's websocket while
	// the kernel starts; one fresh connection is what a user would try.
	var k *kernel.Kernel
	var ki *kernel.KernelInfo
	for attempt := 0; ; attempt++ {
		k, err = srv.Connect(ctx, rec.KernelID)
		if err == nil {
			if ki, err = k.Info(ctx); err != nil {
				k.Close()
			}
		}
		if err == nil || attempt == 1 || !errors.Is(err, kernel.ErrConnection) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kernel did not answer: %w", err)
	}
	s := &Session{Record: rec, store: store, srv: srv, k: k}
	_ = store.SetKernelIdentity(rec.ID, ki.Session)
	nb := base
	if nb == nil {
		nb = notebook.New()
	}
	nb.SetKernel("python3", "Python 3 (ipykernel)", "python", ki.LanguageInfo)
	if _, err := s.create(ctx, nb); err != nil {
		k.Close()
		return nil, err
	}
	return s, nil
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data types only
	}
	return data
}
