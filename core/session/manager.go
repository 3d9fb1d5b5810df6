package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
)

// Providers opens providers by name: built-ins in process, others as plugins.
type Providers interface {
	// Open returns the provider and a func that releases it (stops a plugin).
	Open(ctx context.Context, name string) (core.Provider, func(), error)
	// Names lists the providers that can be opened.
	Names() []string
}

// Manager brings sessions up and down and runs code in them.
type Manager struct {
	store     *Store
	providers Providers
	log       *slog.Logger
	// Progress receives human-readable progress lines during Up (may be nil).
	Progress func(string)
	// ReadyTimeout bounds the wait for Jupyter after the sandbox exists.
	ReadyTimeout time.Duration
	// Models fetches model weights for providers that use the host's cache.
	Models ModelFetcher
}

// NewManager returns a Manager over a store and a set of providers.
func NewManager(store *Store, providers Providers, logger *slog.Logger) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{store: store, providers: providers, log: logger, ReadyTimeout: 2 * time.Minute}
}

// Store returns the manager's store.
func (m *Manager) Store() *Store { return m.store }

func (m *Manager) progress(format string, args ...any) {
	if m.Progress != nil {
		m.Progress(fmt.Sprintf(format, args...))
	}
}

// Up brings a sandbox up, starts its kernel and prepares its notebook. It
// returns once the kernel answers. On any failure, and when ctx is cancelled
// (Ctrl-C), everything it created is destroyed and the record removed.
func (m *Manager) Up(ctx context.Context, cfg *core.SandboxConfig) (_ *Record, err error) {
	start := time.Now()
	if cfg.Provider == "" {
		cfg.Provider = "local"
	}
	if cfg.Mode == "" {
		cfg.Mode = core.ModeNotebook
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prov, release, err := m.providers.Open(ctx, cfg.Provider)
	if err != nil {
		return nil, err
	}
	defer release()
	info, err := prov.Info(ctx)
	if err != nil {
		return nil, err
	}
	spec, err := m.buildSpec(cfg, info)
	if err != nil {
		return nil, err
	}
	if err := preloadDefaults(cfg.Models, spec.GPU.Kind != ""); err != nil {
		return nil, err
	}

	rec := &Record{
		ID: newID(), Provider: cfg.Provider, Mode: cfg.Mode, State: StateStarting,
		Config: *cfg, CreatedAt: time.Now().UTC(), UpOwner: upOwner(),
	}
	rec.Notebook = rec.ID + ".ipynb"
	token, err := m.store.Token(rec.ID)
	if err != nil {
		return nil, err
	}
	phases := newPhaseTimer(rec, start)
	ws, err := prepareWorkspace(&cfg.Workspace)
	if err != nil {
		return nil, err
	}
	spec.Files = ws.files
	rec.Skills = ws.skills
	models, modelPaths, err := m.prepareModels(ctx, cfg, info, &spec)
	if err != nil {
		return nil, err
	}
	rec.Models = models
	if len(models) > 0 {
		phases.mark("models_fetched")
	}

	// The record exists before the sandbox so that `sena down` works even if
	// this process dies half-way; the backend labels make gc work if even
	// the record write is lost.
	if err := m.store.Put(rec); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.cleanupFailedUp(prov, rec)
		}
	}()
	m.progress("creating %s sandbox %s", cfg.Provider, rec.ID)
	resp, err := prov.Create(ctx, &core.CreateRequest{
		SessionID:    rec.ID,
		Labels:       m.labels(rec.ID),
		Spec:         spec,
		JupyterToken: token,
		WorkDir:      m.store.SandboxDir(rec.ID),
		Progress:     m.Progress,
	})
	if err != nil {
		return nil, err
	}
	rec.Handle, rec.Endpoint = resp.Handle, resp.Endpoint
	phases.mark("sandbox_created")
	if err := m.store.Put(rec); err != nil {
		return nil, err
	}

	m.progress("waiting for Jupyter at %s", rec.Endpoint.URL)
	srv, err := kernel.NewServer(rec.Endpoint.URL, token)
	if err != nil {
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, m.ReadyTimeout)
	defer cancel()
	if err := srv.WaitReady(readyCtx); err != nil {
		return nil, fmt.Errorf("jupyter in sandbox %s did not become ready: %w", rec.ID, err)
	}
	phases.mark("jupyter_ready")
	rec.UI = probeUI(ctx, rec.Endpoint.URL, token)
	k, err := m.startKernel(ctx, srv, rec)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	phases.mark("kernel_ready")
	if err := m.initKernel(ctx, srv, k, rec, ws, cfg.Models, modelPaths, phases); err != nil {
		return nil, err
	}
	rec.State, rec.UpOwner = StateReady, ""
	phases.mark("ready")
	if err := m.store.Put(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// startKernel starts the session's kernel through Jupyter's sessions API
// (so JupyterLab opening the notebook binds the same kernel), connects to
// it, and saves the session's empty notebook with the kernel's language
// info. On error the kernel it started may remain; callers tear down.
func (m *Manager) startKernel(ctx context.Context, srv *kernel.Server, rec *Record) (*kernel.Kernel, error) {
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
	nb := notebook.New()
	nb.SetKernel("python3", "Python 3 (ipykernel)", "python", ki.LanguageInfo)
	if err := m.saveNotebook(ctx, srv, rec, nb); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// cleanupFailedUp destroys what a failed or cancelled Up created, with a
// fresh context: the caller's may be the cancelled one.
func (m *Manager) cleanupFailedUp(prov core.Provider, rec *Record) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if rec.Handle.ID != "" {
		if err := prov.Destroy(ctx, &core.DestroyRequest{Handle: rec.Handle}); err != nil {
			m.log.Warn("cleanup after failed up", "session", rec.ID, "err", err)
			return // keep the record so `sena down` can retry
		}
	} else if l, err := prov.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: rec.ID}}); err == nil {
		// Create may have been cut short after the backend made something.
		for _, sb := range l.Sandboxes {
			_ = prov.Destroy(ctx, &core.DestroyRequest{Handle: sb.Handle})
		}
	}
	_ = m.store.Delete(rec.ID)
}

func (m *Manager) labels(id string) map[string]string {
	return map[string]string{
		core.LabelManaged:  "true",
		core.LabelSession:  id,
		core.LabelStateDir: m.store.Owner(),
	}
}

// buildSpec checks the config against the provider and resolves secrets.
func (m *Manager) buildSpec(cfg *core.SandboxConfig, info *core.ProviderInfo) (core.SandboxSpec, error) {
	gpu, _ := core.ParseGPU(cfg.GPU) // validated already
	if err := info.Capabilities.CheckGPU(cfg.Provider, gpu); err != nil {
		return core.SandboxSpec{}, err
	}
	if cfg.Image != "" && !info.Capabilities.Images {
		return core.SandboxSpec{}, core.Errorf(core.ErrInvalidConfig, "provider %s does not run container images: drop --image or use --provider docker", cfg.Provider)
	}
	if cfg.Python != "" && !info.Capabilities.PythonPath {
		return core.SandboxSpec{}, core.Errorf(core.ErrInvalidConfig, "provider %s does not run a host Python: drop --python (it is for --provider local)", cfg.Provider)
	}
	env := map[string]string{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	secrets, err := resolveSecrets(cfg.Secrets, info.Capabilities.SecretStore)
	if err != nil {
		return core.SandboxSpec{}, err
	}
	for k, v := range secrets {
		env[k] = v
	}
	return core.SandboxSpec{
		GPU: gpu, Image: cfg.Image, Python: cfg.Python,
		PythonPackages: cfg.PythonPackages, SystemPackages: cfg.SystemPackages,
		Env: env, SecretNames: cfg.Secrets, Models: cfg.Models,
		CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB,
		Timeout: time.Duration(cfg.Timeout), IdleTimeout: time.Duration(cfg.IdleTimeout),
	}, nil
}

// Down stops a session's sandbox and removes its record; the notebook
// mirror stays on the host.
func (m *Manager) Down(ctx context.Context, id string) error {
	rec, err := m.store.Get(id)
	if err != nil {
		return err
	}
	prov, release, err := m.providers.Open(ctx, rec.Provider)
	if err != nil {
		return err
	}
	defer release()
	if rec.Handle.ID != "" {
		if err := prov.Destroy(ctx, &core.DestroyRequest{Handle: rec.Handle}); err != nil {
			return fmt.Errorf("stop session %s: %w", id, err)
		}
	} else if err := m.destroyByLabel(ctx, prov, id); err != nil {
		return err
	}
	return m.store.Delete(id)
}

func (m *Manager) destroyByLabel(ctx context.Context, prov core.Provider, id string) error {
	l, err := prov.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: id, core.LabelStateDir: m.store.Owner()}})
	if err != nil {
		return err
	}
	for _, sb := range l.Sandboxes {
		if err := prov.Destroy(ctx, &core.DestroyRequest{Handle: sb.Handle}); err != nil {
			return err
		}
	}
	return nil
}

// SessionStatus is a record with its live status.
type SessionStatus struct {
	*Record
	Status core.Status
	// Orphan is true for a sandbox found on a backend with no record here.
	Orphan bool
}

// List returns every recorded session with its live status, plus sandboxes
// of this state dir found on the providers' backends that have no record.
// Providers that cannot be reached are skipped and reported in the errors.
func (m *Manager) List(ctx context.Context, providers []string) ([]SessionStatus, []error) {
	recs, err := m.store.List()
	if err != nil {
		return nil, []error{err}
	}
	var out []SessionStatus
	var errs []error
	known := map[string]bool{}
	byProvider := map[string][]*Record{}
	for _, r := range recs {
		known[r.ID] = true
		byProvider[r.Provider] = append(byProvider[r.Provider], r)
	}
	names := append([]string{}, providers...)
	for p := range byProvider {
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	for _, name := range names {
		prov, release, err := m.providers.Open(ctx, name)
		if err != nil {
			errs = append(errs, err)
			for _, r := range byProvider[name] {
				out = append(out, SessionStatus{Record: r, Status: core.StatusUnknown})
			}
			continue
		}
		for _, r := range byProvider[name] {
			out = append(out, SessionStatus{Record: r, Status: inspect(ctx, prov, r)})
		}
		orphans, err := m.orphans(ctx, prov, name, known)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s sandboxes: %w", name, err))
		}
		out = append(out, orphans...)
		release()
	}
	return out, errs
}

// Abandoned is true for a session whose `up` died before it was ready.
func (s SessionStatus) Abandoned() bool {
	return !s.Orphan && s.State == StateStarting && !ownerAlive(s.UpOwner)
}

func inspect(ctx context.Context, prov core.Provider, r *Record) core.Status {
	if r.Handle.ID == "" {
		return core.StatusUnknown
	}
	resp, err := prov.Inspect(ctx, &core.InspectRequest{Handle: r.Handle})
	switch {
	case errors.Is(err, core.ErrNotFound):
		return core.StatusStopped
	case err != nil:
		return core.StatusUnknown
	}
	return resp.Status
}

func (m *Manager) orphans(ctx context.Context, prov core.Provider, name string, known map[string]bool) ([]SessionStatus, error) {
	l, err := prov.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true", core.LabelStateDir: m.store.Owner()}})
	if err != nil {
		return nil, err
	}
	var out []SessionStatus
	for _, sb := range l.Sandboxes {
		id := sb.Labels[core.LabelSession]
		if known[id] {
			continue
		}
		out = append(out, SessionStatus{
			Record: &Record{ID: id, Provider: name, Handle: sb.Handle},
			Status: sb.Status, Orphan: true,
		})
	}
	return out, nil
}

// GC destroys sandboxes of this state dir that no live session owns: those
// with no record, and those whose `up` process died before finishing (a
// sena killed during up). It returns what it removed.
func (m *Manager) GC(ctx context.Context, providers []string) ([]SessionStatus, []error) {
	all, errs := m.List(ctx, providers)
	var removed []SessionStatus
	for _, s := range all {
		if s.Abandoned() {
			if err := m.Down(ctx, s.ID); err != nil {
				errs = append(errs, fmt.Errorf("remove abandoned session %s: %w", s.ID, err))
				continue
			}
			removed = append(removed, s)
			continue
		}
		if !s.Orphan {
			continue
		}
		prov, release, err := m.providers.Open(ctx, s.Provider)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = prov.Destroy(ctx, &core.DestroyRequest{Handle: s.Handle})
		release()
		if err != nil {
			errs = append(errs, fmt.Errorf("remove orphan %s: %w", s.ID, err))
			continue
		}
		removed = append(removed, s)
	}
	return removed, errs
}

// NotebookFile is the host path of a session's notebook, which outlives the session.
func (m *Manager) NotebookFile(id string) (string, error) {
	p := m.store.NotebookPath(id)
	if _, err := os.Stat(p); err != nil {
		return "", core.Errorf(core.ErrNotFound, "no notebook for session %q in %s: `sena ls` lists the sessions", id, m.store.Dir)
	}
	return p, nil
}
