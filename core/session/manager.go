package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sena-labs/sena/core"
)

// Providers opens providers by name: built-ins in process, others as plugins.
type Providers interface {
	// Open returns the provider and a func that releases it (stops a
	// plugin). passEnv names host variables a plugin process receives.
	Open(ctx context.Context, name string, passEnv []string) (core.Provider, func(), error)
	// Names lists the providers that can be opened.
	Names() []string
}

// Params configure a Manager. Store and Providers are required; the rest
// have defaults.
type Params struct {
	// Store keeps session records (OpenStore).
	Store *Store
	// Providers opens providers by name (providers.NewRegistry).
	Providers Providers
	// Logger receives debugging detail; default: discarded.
	Logger *slog.Logger
	// Skills are the built-in skills, found by bare name (`--skill
	// steering`); default: none.
	Skills fs.FS
	// Models fetches weights into the host's Hugging Face cache, for
	// providers that use it; default: none (such configs are refused).
	Models ModelFetcher
	// Progress hears how Up goes: notes, and the steps that take time
	// (environment and image builds, model downloads) as they advance.
	// Calls come one at a time. Default: none.
	Progress func(core.Progress)
	// ReadyTimeout bounds the wait for Jupyter once the sandbox exists;
	// default 2 minutes.
	ReadyTimeout time.Duration
	// Version is Sena's version, recorded in each environment manifest.
	Version string
}

// Manager brings sessions up and down and runs code in them.
type Manager struct {
	store        *Store
	providers    Providers
	log          *slog.Logger
	skills       fs.FS
	models       ModelFetcher
	progressFunc func(core.Progress) // nil when nobody listens
	readyTimeout time.Duration
	version      string
}

// NewManager returns a Manager with p's settings and defaults for the rest.
func NewManager(p Params) *Manager {
	m := &Manager{
		store: p.Store, providers: p.Providers, log: p.Logger, skills: p.Skills,
		models: p.Models, readyTimeout: p.ReadyTimeout, version: p.Version,
	}
	if p.Progress != nil {
		var mu sync.Mutex // providers may report from several goroutines
		m.progressFunc = func(pr core.Progress) {
			mu.Lock()
			defer mu.Unlock()
			p.Progress(pr)
		}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.readyTimeout == 0 {
		m.readyTimeout = 2 * time.Minute
	}
	if m.version == "" {
		m.version = "dev"
	}
	return m
}

// Store returns the manager's store.
func (m *Manager) Store() *Store { return m.store }

func (m *Manager) progress(format string, args ...any) {
	m.report(core.Note(format, args...))
}

func (m *Manager) report(p core.Progress) {
	if m.progressFunc != nil {
		m.progressFunc(p)
	}
}

func (m *Manager) labels(id string) map[string]string {
	return map[string]string{
		core.LabelManaged:  "true",
		core.LabelSession:  id,
		core.LabelStateDir: m.store.Owner(),
	}
}

// Down stops a session's sandbox and removes its record; the notebook
// mirror stays on the host. id may be a unique prefix (see Resolve).
func (m *Manager) Down(ctx context.Context, id string) error {
	id, err := m.Resolve(id)
	if err != nil {
		return err
	}
	rec, err := m.store.Get(id)
	if err != nil {
		return err
	}
	prov, release, err := m.providers.Open(ctx, rec.Provider, passEnvOf(&rec.Config))
	if err != nil {
		return err
	}
	defer release()
	m.SyncMirror(ctx, id) // the researcher's last cells, before the sandbox goes
	if rec.Handle.ID != "" {
		if err := prov.Destroy(ctx, &core.DestroyRequest{Handle: rec.Handle}); err != nil {
			return fmt.Errorf("stop session %s: %w", id, err)
		}
	} else if err := m.destroyByLabel(ctx, prov, id); err != nil {
		return err
	}
	_ = os.RemoveAll(m.store.SandboxDir(id)) // logs, library copies; the notebook mirror stays
	if rec.Warm != nil && rec.Warm.TakenAt.IsZero() {
		_ = os.Remove(m.store.NotebookPath(id)) // a warm sandbox's: no session ever wrote in it
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
	// Reason is the backend's word on the status, when it has one: what a
	// queued sandbox waits for, why a stopped one ended.
	Reason string
	// GPUs are the devices the sandbox holds, as its provider reports them.
	GPUs []string
	// Orphan is true for a sandbox found on a backend with no record here.
	Orphan bool
}

// UnreachableError reports a provider that could not be asked about the
// sessions recorded for it: their status is not known, and `ls` or `gc`
// must say so rather than show them as unknown or find nothing to remove.
type UnreachableError struct {
	Provider string
	Sessions int // recorded sessions on it
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach provider %s, which runs %d recorded session(s): %v", e.Provider, e.Sessions, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

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
		recs := byProvider[name]
		prov, release, err := m.providers.Open(ctx, name, passEnvOfAny(recs))
		if err != nil {
			if len(recs) > 0 {
				err = &UnreachableError{Provider: name, Sessions: len(recs), Err: err}
			}
			errs = append(errs, err)
			for _, r := range recs {
				out = append(out, SessionStatus{Record: r, Status: core.StatusUnknown})
			}
			continue
		}
		found, err := m.found(ctx, prov)
		var unreachable error
		for _, r := range recs {
			st, ierr := inspect(ctx, prov, r, found)
			if errors.Is(ierr, core.ErrUnavailable) && unreachable == nil {
				unreachable = &UnreachableError{Provider: name, Sessions: len(recs), Err: ierr}
				errs = append(errs, unreachable)
			}
			out = append(out, st)
		}
		if err != nil && unreachable == nil {
			errs = append(errs, fmt.Errorf("list %s sandboxes: %w", name, err))
		}
		out = append(out, orphans(name, found, known)...)
		release()
	}
	return out, errs
}

// Abandoned is true for a session whose `up` died before it was ready, or
// failed without confirming that it removed its sandbox.
func (s SessionStatus) Abandoned() bool {
	return !s.Orphan && (s.State == StateAbandoned || s.State == StateStarting && !ownerAlive(s.UpOwner))
}

// inspect is a record's live status. A record without a handle is an up
// still in Create (a batch job waiting in its queue, say): what the backend
// lists under its session label stands for it.
func inspect(ctx context.Context, prov core.Provider, r *Record, found []core.SandboxInfo) (SessionStatus, error) {
	st := SessionStatus{Record: r, Status: core.StatusUnknown}
	if r.Handle.ID == "" {
		for _, sb := range found {
			if sb.Labels[core.LabelSession] == r.ID {
				st.Status, st.Reason, st.GPUs = sb.Status, sb.Reason, sb.GPUs
			}
		}
		return st, nil
	}
	resp, err := prov.Inspect(ctx, &core.InspectRequest{Handle: r.Handle})
	switch {
	case errors.Is(err, core.ErrNotFound):
		st.Status, st.Reason = core.StatusStopped, "its sandbox is gone"
		return st, nil
	case err != nil:
		return st, err
	}
	st.Status, st.Reason, st.GPUs = resp.Status, resp.Reason, resp.GPUs
	return st, nil
}

// found lists the sandboxes of this state dir on a provider's backend.
func (m *Manager) found(ctx context.Context, prov core.Provider) ([]core.SandboxInfo, error) {
	l, err := prov.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true", core.LabelStateDir: m.store.Owner()}})
	if err != nil {
		return nil, err
	}
	return l.Sandboxes, nil
}

// orphans are the sandboxes found that no record here owns.
func orphans(name string, found []core.SandboxInfo, known map[string]bool) []SessionStatus {
	var out []SessionStatus
	for _, sb := range found {
		id := sb.Labels[core.LabelSession]
		if known[id] {
			continue
		}
		out = append(out, SessionStatus{
			Record: &Record{ID: id, Provider: name, Handle: sb.Handle},
			Status: sb.Status, Reason: sb.Reason, GPUs: sb.GPUs, Orphan: true,
		})
	}
	return out
}

// GC destroys sandboxes of this state dir that no live session owns: those
// with no record, and those whose `up` process died before finishing (a
// sena killed during up). It returns what it removed.
//
// Pools whose keeper is gone (killed) are removed too, with the warm
// sandboxes that no session took.
func (m *Manager) GC(ctx context.Context, providers []string) ([]SessionStatus, []error) {
	var removed []SessionStatus
	warm, errs := m.gcPools(ctx)
	for _, r := range warm {
		removed = append(removed, SessionStatus{Record: r, Status: core.StatusStopped})
	}
	all, lerrs := m.List(ctx, providers)
	errs = append(errs, lerrs...)
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
		prov, release, err := m.providers.Open(ctx, s.Provider, nil)
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
		_ = os.RemoveAll(m.store.SandboxDir(s.ID))
		removed = append(removed, s)
	}
	return removed, errs
}

// NotebookFile is the host path of a session's notebook, which outlives the
// session. id may be a unique prefix of the id of any session that had one.
// For a live session the file is first brought up to date with the notebook
// in its sandbox (cells added in JupyterLab, outputs recorded after a client
// went away).
func (m *Manager) NotebookFile(id string) (string, error) {
	ids, err := m.store.ids("notebooks", ".ipynb")
	if err != nil {
		return "", err
	}
	full, err := resolve(id, ids, m.store.Dir)
	if errors.Is(err, core.ErrNotFound) {
		return "", core.Errorf(core.ErrNotFound, "no notebook for session %q in %s: `sena ls` lists the sessions", id, m.store.Dir)
	}
	if err != nil {
		return "", err
	}
	m.SyncMirror(context.Background(), full)
	return m.store.NotebookPath(full), nil
}

// passEnvOfAny is what a provider's plugin receives when one process asks
// it about several sessions: every variable any of their configs named.
func passEnvOfAny(recs []*Record) []string {
	var names []string
	for _, r := range recs {
		for _, n := range passEnvOf(&r.Config) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}
