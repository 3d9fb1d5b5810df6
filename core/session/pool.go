package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/atomicfile"
)

// A warm pool keeps sandboxes of one config ready for sessions to take:
// Jupyter up, the kernel started, torch, transformers and the models' code
// imported, and with preload the weights loaded. Its record (Pool, in the
// store's pools/ folder) says what to keep and for how long; a keeper
// process (Keep) fills it and refills it after each handover. Each warm
// sandbox is a session record in state warm, labelled with its pool, so
// `sena ls`, `down --all` and `gc` see it like any other; and each is made
// with the pool's lifetime as its timeout and the pool's idle TTL as its
// idle rule, which its provider enforces, so none outlives the pool even
// when no keeper runs.

// LabelPool is the label of a warm pool's sandboxes: the pool's id.
const LabelPool = "sena.pool"

// DefaultPoolLifetime is a pool's lifetime when its config sets no timeout.
const DefaultPoolLifetime = time.Hour

// minFillLifetime: a pool that ends sooner than this makes no more sandboxes.
const minFillLifetime = 30 * time.Second

// Pool is a warm pool's record.
type Pool struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	// Env and Preload are the match keys of Config (PoolKeys).
	Env     string `json:"env"`
	Preload string `json:"preload,omitempty"`
	// Config is what each sandbox is, without per-session settings.
	Config    core.SandboxConfig `json:"config"`
	Count     int                `json:"count"`
	CreatedAt time.Time          `json:"created_at"`
	// ExpiresAt ends the pool: the keeper stops, and each sandbox's
	// provider stops it then at the latest.
	ExpiresAt time.Time `json:"expires_at"`
	// IdleTimeout ends the pool when no session took a sandbox for that
	// long (0: never); each sandbox's own idle rule is the same.
	IdleTimeout core.Duration `json:"idle_timeout,omitempty"`
	// LastTaken is when a session last took one of its sandboxes.
	LastTaken time.Time `json:"last_taken,omitzero"`
	// Keeper is the keeper process (pid:start), "" before one started.
	Keeper string `json:"keeper,omitempty"`
	// Error is why the last fill failed; Failures counts fills failed in a row.
	Error    string `json:"error,omitempty"`
	Failures int    `json:"failures,omitempty"`
}

// PoolVersion is the format of the pool records this sena writes.
const PoolVersion = 1

// KeeperPID is the keeper's process id, 0 when none was recorded.
func (p *Pool) KeeperPID() int {
	var pid int
	pidText, _, _ := strings.Cut(p.Keeper, ":")
	_, _ = fmt.Sscan(pidText, &pid)
	return pid
}

// KeeperAlive reports whether the pool's keeper still runs.
func (p *Pool) KeeperAlive() bool { return p.Keeper != "" && ownerAlive(p.Keeper) }

// poolKeyEnv is what determines a sandbox's environment: a warm sandbox
// serves a session only when this is equal.
type poolKeyEnv struct {
	Provider       string         `json:"provider"`
	Options        map[string]any `json:"options,omitempty"`
	GPU            string         `json:"gpu,omitempty"`
	Image          string         `json:"image,omitempty"`
	PythonPackages []string       `json:"python_packages,omitempty"`
	SystemPackages []string       `json:"system_packages,omitempty"`
	Models         []poolKeyModel `json:"models,omitempty"`
	CPUs           float64        `json:"cpus,omitempty"`
	MemoryMiB      int64          `json:"memory_mib,omitempty"`
}

type poolKeyModel struct {
	Name     string `json:"name"`
	Revision string `json:"revision,omitempty"`
	EnvVar   string `json:"env_var"`
	Hidden   bool   `json:"hidden,omitempty"`
}

// PoolKeys are the match keys of a config: env covers what determines the
// sandbox's environment (provider and its options, the interpreter or
// image, packages, models and revisions, GPU, CPUs and memory); preload
// covers what is loaded into the kernel in advance (variables, dtypes,
// device maps), "" when nothing is. A warm sandbox serves a session whose
// env key is its own and whose preload key is its own, or, when it loaded
// nothing, any: the weights are loaded at the handover then. Everything
// else (env, secrets, workspace, init code, mode, timeouts) is per session.
func PoolKeys(cfg *core.SandboxConfig) (env, preload string, err error) {
	c, err := copyConfig(cfg)
	if err != nil {
		return "", "", err
	}
	if err := c.Normalize(); err != nil {
		return "", "", err
	}
	gpu, err := core.ParseGPU(c.GPU)
	if err != nil {
		return "", "", err
	}
	if err := preloadDefaults(c.Models, gpu.Kind != ""); err != nil {
		return "", "", err
	}
	k := poolKeyEnv{
		Provider: c.Provider, Options: c.ProviderOptions, GPU: gpu.String(), Image: c.Image,
		PythonPackages: c.PythonPackages, SystemPackages: c.SystemPackages, CPUs: c.CPUs, MemoryMiB: c.MemoryMiB,
	}
	if len(k.Options) == 0 {
		k.Options = nil
	}
	var pre []any
	for i, m := range c.Models {
		k.Models = append(k.Models, poolKeyModel{Name: m.Name, Revision: m.Revision, EnvVar: m.EnvVar, Hidden: m.Hidden})
		if m.Preload != nil {
			pre = append(pre, []any{i, *m.Preload})
		}
	}
	env = hashJSON(k)
	if len(pre) > 0 {
		preload = hashJSON(pre)
	}
	return env, preload, nil
}

func hashJSON(v any) string {
	data, _ := json.Marshal(v) // plain data; map keys sorted
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:12])
}

// copyConfig is a deep copy, through JSON (numbers as JSON reads them, so
// an option 2 from YAML and 2.0 from JSON are the same).
func copyConfig(cfg *core.SandboxConfig) (*core.SandboxConfig, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "config: %v", err)
	}
	var c core.SandboxConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "config: %v", err)
	}
	return &c, nil
}

// PoolID is the id of the pool for a config's keys: one pool per config
// and state dir, so `sena warm` of the same config finds it again.
func PoolID(env, preload string) string {
	sum := sha256.Sum256([]byte(env + "/" + preload))
	return "p" + hex.EncodeToString(sum[:6])
}

// PoolConfig is the part of cfg a pool keeps: what determines each
// sandbox. It returns the per-session settings cfg had, which the pool
// does not apply (a session taking a sandbox brings its own), by key.
func PoolConfig(cfg *core.SandboxConfig) (*core.SandboxConfig, []string, error) {
	c, err := copyConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Normalize(); err != nil {
		return nil, nil, err
	}
	var dropped []string
	drop := func(key string, set bool) {
		if set {
			dropped = append(dropped, key)
		}
	}
	drop("env", len(c.Env) > 0)
	drop("secrets", len(c.Secrets) > 0)
	drop("workspace.libraries", len(c.Workspace.Libraries) > 0)
	drop("workspace.skills", len(c.Workspace.Skills) > 0)
	drop("workspace.init_code", c.Workspace.InitCode != "")
	drop("mode", c.Mode != core.ModeNotebook)
	c.Env, c.Secrets, c.Workspace, c.Mode = nil, nil, core.Workspace{}, core.ModeNotebook
	c.Timeout, c.IdleTimeout = 0, 0 // the pool's own lifetime and idle TTL
	return c, dropped, nil
}

// PoolParams say what a pool keeps and for how long.
type PoolParams struct {
	// Count is how many sandboxes are kept ready (at least 1).
	Count int
	// Lifetime ends the pool, counted from now (default DefaultPoolLifetime).
	Lifetime time.Duration
	// IdleTimeout ends the pool after this long without a session taking a
	// sandbox (0: never).
	IdleTimeout time.Duration
}

// EnsurePool records the pool for cfg (per-session settings dropped),
// checked against its provider before anything is made, or updates the
// existing one's count, lifetime and idle TTL. The pool fills only while
// a keeper runs (Keep).
func (m *Manager) EnsurePool(ctx context.Context, cfg *core.SandboxConfig, pp PoolParams) (*Pool, error) {
	if pp.Count < 1 {
		return nil, core.Errorf(core.ErrInvalidConfig, "a pool keeps at least 1 sandbox (--count)")
	}
	if pp.Lifetime == 0 {
		pp.Lifetime = DefaultPoolLifetime
	}
	if pp.Lifetime < minFillLifetime || pp.IdleTimeout < 0 {
		return nil, core.Errorf(core.ErrInvalidConfig, "a pool's lifetime (--timeout) must be at least %s", minFillLifetime)
	}
	pc, _, err := PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := pc.Validate(); err != nil {
		return nil, err
	}
	env, pre, err := PoolKeys(pc)
	if err != nil {
		return nil, err
	}
	if err := m.checkPool(ctx, pc, pp); err != nil {
		return nil, err
	}
	id := PoolID(env, pre)
	var out *Pool
	err = m.store.withPool(ctx, id, func(p *Pool) (*Pool, error) {
		now := time.Now().UTC()
		if p == nil {
			p = &Pool{Version: PoolVersion, ID: id, Env: env, Preload: pre, Config: *pc, CreatedAt: now}
		}
		p.Count, p.ExpiresAt, p.IdleTimeout = pp.Count, now.Add(pp.Lifetime), core.Duration(pp.IdleTimeout)
		p.Error, p.Failures = "", 0
		out = p
		return p, nil
	})
	return out, err
}

// checkPool refuses, before anything is made, a pool its provider cannot
// keep: what up would refuse, and a provider that enforces no timeout
// (a warm sandbox must stop at the pool's end with no sena running).
func (m *Manager) checkPool(ctx context.Context, pc *core.SandboxConfig, pp PoolParams) error {
	prov, release, err := m.providers.Open(ctx, pc.Provider, passEnvOf(pc))
	if err != nil {
		return err
	}
	defer release()
	info, err := prov.Info(ctx)
	if err != nil {
		return err
	}
	if !info.Capabilities.Honours(core.FieldTimeout) {
		return core.Errorf(core.ErrUnsupported, "provider %s enforces no timeout, so its sandboxes could outlive a pool: warm pools need a provider that stops sandboxes at a deadline (`sena providers`)", pc.Provider)
	}
	c, err := copyConfig(pc)
	if err != nil {
		return err
	}
	c.Timeout, c.IdleTimeout = core.Duration(pp.Lifetime), core.Duration(pp.IdleTimeout)
	_, err = PlanSandbox(c, info, m.skills)
	return err
}

// Pool reads a pool's record; the error wraps core.ErrNotFound when there is none.
func (m *Manager) Pool(id string) (*Pool, error) { return m.store.GetPool(id) }

// PoolStatus is a pool with its members.
type PoolStatus struct {
	*Pool
	// Warm are the sessions of its sandboxes ready to take; Filling those
	// being made.
	Warm, Filling []string
}

// Pools lists every pool of this state dir with its members, oldest first.
func (m *Manager) Pools() ([]PoolStatus, error) {
	pools, err := m.store.ListPools()
	if err != nil {
		return nil, err
	}
	recs, err := m.store.List()
	if err != nil {
		return nil, err
	}
	var out []PoolStatus
	for _, p := range pools {
		ps := PoolStatus{Pool: p}
		for _, r := range recs {
			switch {
			case r.Warm == nil || r.Warm.Pool != p.ID || !r.Warm.TakenAt.IsZero():
			case r.State == StateWarm:
				ps.Warm = append(ps.Warm, r.ID)
			case r.State == StateStarting && ownerAlive(r.UpOwner) && r.UpOwner == p.Keeper:
				ps.Filling = append(ps.Filling, r.ID)
			}
		}
		out = append(out, ps)
	}
	return out, nil
}

// StopPool ends a pool: its keeper (SIGTERM; what it was making is torn
// down by it), its record, and every sandbox of it no session took. It
// returns the sandboxes it stopped. A pool already gone is not an error
// when sandboxes of it remain: those are stopped.
func (m *Manager) StopPool(ctx context.Context, id string) ([]string, error) {
	p, err := m.store.GetPool(id)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return nil, err
	}
	if p != nil {
		if err := m.store.DeletePool(id); err != nil {
			return nil, err
		}
		stopKeeper(p)
	}
	recs, err := m.stopMembers(ctx, id, "")
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids, err
}

// stopKeeper ends a keeper and waits for it: SIGTERM (it tears down the
// sandbox it is making), then SIGKILL after a grace period.
func stopKeeper(p *Pool) {
	pid := p.KeeperPID()
	if pid <= 0 || pid == os.Getpid() || !p.KeeperAlive() {
		return // a keeper in this process sees its record gone and stops
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for p.KeeperAlive() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p.KeeperAlive() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 100 && p.KeeperAlive(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stopMembers stops a pool's sandboxes that no session took: warm ones
// (claimed first, so a handover in progress keeps its own), and those
// whose making was cut short (their maker is gone). keep, when set, is an
// owner whose fills in progress are left alone.
func (m *Manager) stopMembers(ctx context.Context, id, keep string) ([]*Record, error) {
	recs, err := m.store.List()
	if err != nil {
		return nil, err
	}
	var stopped []*Record
	var errs []error
	for _, r := range recs {
		if r.Warm == nil || r.Warm.Pool != id || !r.Warm.TakenAt.IsZero() {
			continue
		}
		switch {
		case r.State == StateWarm:
			release, ok := m.store.claim(r.ID)
			if !ok {
				continue // a session is taking it
			}
			err = m.Down(ctx, r.ID)
			release()
		case r.State == StateStarting && r.UpOwner != keep && ownerAlive(r.UpOwner):
			continue // being made by a live keeper; it sees the pool gone and tears it down
		default:
			err = m.Down(ctx, r.ID)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, r)
	}
	return stopped, errors.Join(errs...)
}

// gcPools removes pools whose keeper is gone, with their sandboxes that no
// session took, and returns those sandboxes.
func (m *Manager) gcPools(ctx context.Context) ([]*Record, []error) {
	pools, err := m.store.ListPools()
	if err != nil {
		return nil, []error{err}
	}
	var out []*Record
	var errs []error
	for _, p := range pools {
		if p.KeeperAlive() || time.Since(p.CreatedAt) < 10*time.Second && p.Keeper == "" {
			continue // a keeper is starting, or running
		}
		if err := m.store.DeletePool(p.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		recs, err := m.stopMembers(ctx, p.ID, "")
		out = append(out, recs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Warm sandboxes whose pool record is gone (a keeper killed while it
	// retired its pool) belong to no pool that could hand them over.
	live := map[string]bool{}
	if pools, err = m.store.ListPools(); err == nil {
		for _, p := range pools {
			live[p.ID] = true
		}
	}
	recs, err := m.store.List()
	if err != nil {
		return out, append(errs, err)
	}
	for _, r := range recs {
		if r.State != StateWarm || r.Warm == nil || live[r.Warm.Pool] {
			continue
		}
		if release, ok := m.store.claim(r.ID); ok {
			if err := m.Down(ctx, r.ID); err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, r)
			}
			release()
		}
	}
	return out, errs
}

// takenFromPool tells a pool that a session took one of its sandboxes:
// its idle clock restarts and its keeper is woken to refill.
func (m *Manager) takenFromPool(id string) {
	_ = m.store.withPool(context.Background(), id, func(p *Pool) (*Pool, error) {
		if p == nil {
			return nil, nil
		}
		p.LastTaken = time.Now().UTC()
		if pid := p.KeeperPID(); pid > 0 && p.KeeperAlive() {
			_ = syscall.Kill(pid, syscall.SIGUSR1)
		}
		return p, nil
	})
}

// --- the store's pools/ folder

func (s *Store) poolPath(id string) string { return filepath.Join(s.Dir, "pools", id+".json") }

// PoolLog is where a pool's keeper writes its log.
func (s *Store) PoolLog(id string) string { return filepath.Join(s.Dir, "pools", id+".log") }

// GetPool reads a pool's record; the error wraps core.ErrNotFound when there is none.
func (s *Store) GetPool(id string) (*Pool, error) {
	if !validID(id) {
		return nil, core.Errorf(core.ErrNotFound, "no pool %q: `sena ls` lists the pools", id)
	}
	data, err := os.ReadFile(s.poolPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, core.Errorf(core.ErrNotFound, "no pool %q in %s: `sena ls` lists the pools", id, s.Dir)
	}
	if err != nil {
		return nil, err
	}
	var p Pool
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("pool record %s is damaged: %w", s.poolPath(id), err)
	}
	if p.Version > PoolVersion {
		return nil, core.Errorf(core.ErrInvalidConfig, "pool record %s has format %d, newer than this sena reads (%d)", s.poolPath(id), p.Version, PoolVersion)
	}
	return &p, nil
}

// ListPools reads every pool record, oldest first.
func (s *Store) ListPools() ([]*Pool, error) {
	ids, err := s.ids("pools", ".json")
	if err != nil {
		return nil, err
	}
	var out []*Pool
	for _, id := range ids {
		p, err := s.GetPool(id)
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// DeletePool removes a pool's record (its log stays, for what went wrong).
func (s *Store) DeletePool(id string) error {
	err := os.Remove(s.poolPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	_ = os.Remove(filepath.Join(s.Dir, "pools", id+".lock"))
	return err
}

// withPool changes a pool's record under its lock: change gets the record
// (nil when there is none) and returns what to write (nil: write nothing).
func (s *Store) withPool(ctx context.Context, id string, change func(*Pool) (*Pool, error)) error {
	if err := os.MkdirAll(filepath.Join(s.Dir, "pools"), 0o700); err != nil {
		return err
	}
	unlock, err := s.lockFile(ctx, filepath.Join(s.Dir, "pools", id+".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	p, err := s.GetPool(id)
	if errors.Is(err, core.ErrNotFound) {
		p, err = nil, nil
	}
	if err != nil {
		return err
	}
	np, err := change(p)
	if err != nil || np == nil {
		return err
	}
	data, err := json.MarshalIndent(np, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.poolPath(id), data, 0o600)
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func (s *Store) lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// claim takes a warm sandbox for one caller: a handover, or a keeper or
// stopper about to remove it. The claim file is made exclusively, so of
// two callers one wins; release removes it. A claim left by a dead
// process is taken over.
func (s *Store) claim(id string) (release func(), ok bool) {
	path := filepath.Join(s.Dir, "sessions", id+".claim")
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprint(f, upOwner())
			f.Close()
			return func() { _ = os.Remove(path) }, true
		}
		owner, rerr := os.ReadFile(path)
		if rerr != nil || ownerAlive(string(owner)) {
			return nil, false
		}
		_ = os.Remove(path) // its claimer died
	}
	return nil, false
}

// warmCandidates are the warm sandboxes that can serve cfg's keys, the
// best first: those that loaded what cfg preloads, then those that loaded
// nothing, newest first within each (they have the most lifetime left).
func (s *Store) warmCandidates(env, preload string, lifetime time.Duration) ([]*Record, error) {
	recs, err := s.List()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []*Record
	for _, r := range recs {
		w := r.Warm
		switch {
		case r.State != StateWarm || w == nil || w.Env != env:
		case w.Preload != "" && w.Preload != preload:
		case !w.ExpiresAt.IsZero() && now.Add(max(lifetime, minFillLifetime/3)).After(w.ExpiresAt):
			// it would stop before the session's own timeout (or very soon)
		default:
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *Record) int {
		if (a.Warm.Preload != "") != (b.Warm.Preload != "") {
			if a.Warm.Preload != "" {
				return -1
			}
			return 1
		}
		return b.Warm.WarmedAt.Compare(a.Warm.WarmedAt)
	})
	return out, nil
}

// poolLabels are the labels of a pool's sandbox.
func (m *Manager) poolLabels(id, pool string) map[string]string {
	l := m.labels(id)
	maps.Copy(l, map[string]string{LabelPool: pool})
	return l
}
