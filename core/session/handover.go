package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// modelFetch is a download running beside the sandbox's start.
type modelFetch struct {
	cancel context.CancelFunc
	done   chan struct{}
	// Set before done closes.
	models  []Model
	paths   []modelPath
	loads   []modelLoad
	env     map[string]string // the models' variables
	seconds float64           // when it ended, from the start of up
	err     error
}

// startFetch downloads cfg's models in the background.
func (m *Manager) startFetch(ctx context.Context, cfg *core.SandboxConfig, info *core.ProviderInfo, start time.Time) *modelFetch {
	fctx, cancel := context.WithCancel(ctx)
	f := &modelFetch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		var spec core.SandboxSpec
		f.models, f.paths, f.loads, f.err = m.prepareModels(fctx, cfg, info, &spec)
		f.env, f.seconds = spec.Env, time.Since(start).Seconds()
	}()
	return f
}

// joinFetch waits for a download that ran beside the sandbox's start and
// gives the kernel, and the server for kernels it starts later (a
// restart), the models' variables.
func (u *upRun) joinFetch(ctx context.Context) error {
	f := u.fetch
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	u.fetch = nil
	f.cancel()
	if f.err != nil {
		return f.err
	}
	u.rec.Models, u.models, u.loads = f.models, f.paths, f.loads
	u.markAt("models_fetched", f.seconds)
	if err := handOver(ctx, u.srv, u.session.kernel(), f.env, nil, u.plan.Skills, nil, nil); err != nil {
		return err
	}
	return u.m.store.Put(u.rec)
}

// handOver gives a running sandbox what a session brings: env (secret
// values included, sent and never stored) to the server, for kernels it
// starts later, and to the kernel; files written under the work dir; the
// workspace on sys.path; and, when set, new idle and lifetime rules
// (seconds; 0 turns a rule off).
func handOver(ctx context.Context, srv *kernel.Server, k *kernel.Kernel, env map[string]string, files map[string][]byte, skills []Skill, idle, lifetime *float64) error {
	if len(env) > 0 || idle != nil || lifetime != nil {
		req := core.HandoverRequest{Env: env, IdleTimeout: idle, Lifetime: lifetime}
		if err := srv.Post(ctx, core.HandoverPath, req, nil); err != nil {
			return fmt.Errorf("hand the sandbox over (is its Jupyter server started by Sena's launcher, core.JupyterServerCommand?): %w", err)
		}
	}
	paths := []string{libDir}
	for _, s := range skills {
		paths = append(paths, s.Path)
	}
	enc := map[string]string{}
	for p, data := range files {
		enc[p] = base64.StdEncoding.EncodeToString(data)
	}
	if env == nil {
		env = map[string]string{}
	}
	args := map[string]any{"env": env, "files": enc, "paths": paths, "kernel_id": k.ID(), "env_dir": envDir}
	if err := callKernelside(ctx, k, "handover", args, nil, nil); err != nil {
		return fmt.Errorf("prepare the kernel for the session: %w", err)
	}
	return nil
}

// warmUp is a warm pool sandbox's kernel preparation: the weights (with
// preload) and one forward pass, or the imports its sessions will need
// (torch, transformers, the models' code, CUDA), all silently.
func (u *upRun) warmUp(ctx context.Context, py *Session) error {
	if hasPreload(u.cfg.Models) {
		if err := u.m.preloadWeights(ctx, py, u.cfg.Models, u.loads, u.mark, true); err != nil {
			return err
		}
		var pairs [][2]string
		for _, mc := range u.cfg.Models {
			if mc.Preload != nil {
				pairs = append(pairs, [2]string{mc.Preload.Var, mc.Preload.TokenizerVar})
			}
		}
		if err := callKernelside(ctx, py.kernel(), "warm_forward", map[string]any{"pairs": pairs}, nil, nil); err != nil {
			return err
		}
		u.mark("warmed")
		return nil
	}
	var paths []string
	for i, mc := range u.cfg.Models {
		switch {
		case mc.Hidden && i < len(u.models):
			paths = append(paths, string(u.models[i]))
		case i < len(u.rec.Models) && u.rec.Models[i].Path != "":
			paths = append(paths, u.rec.Models[i].Path)
		}
	}
	u.m.progress("importing torch, transformers and the models' code")
	var took map[string]any
	args := map[string]any{"modules": []string{"torch", "transformers"}, "model_paths": paths, "cuda": u.gpu()}
	if err := callKernelside(ctx, py.kernel(), "warmup", args, &took, nil); err != nil {
		return err
	}
	u.m.log.Debug("warm-up imports", "took", took)
	u.mark("warmed")
	return nil
}

// upFromPool takes a warm sandbox for cfg when one matches, and returns
// nil, nil when none does or the handover failed before anything of the
// session happened (Up then makes a sandbox).
func (m *Manager) upFromPool(ctx context.Context, cfg *core.SandboxConfig, start time.Time) (*Record, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	env, pre, err := PoolKeys(cfg)
	if err != nil {
		return nil, err
	}
	cands, err := m.store.warmCandidates(env, pre, cfg.Timeout.Std())
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	t, err := m.planTake(cfg, cands[0].Warm.SecretStore)
	if err != nil || t == nil {
		return nil, err
	}
	t.start = start
	for _, cand := range cands {
		release, ok := m.store.claim(cand.ID)
		if !ok {
			continue
		}
		rec, err := t.take(ctx, cand.ID)
		release()
		switch {
		case err == nil:
			return rec, nil
		case ctx.Err() != nil, errors.Is(err, errSession):
			return nil, err
		}
		m.progress("the warm sandbox %s could not be taken (%v): making a new one", cand.ID, err)
		return nil, nil
	}
	return nil, nil
}

// errSession marks a handover failure that is the session's own (its init
// code raised, a preload failed): making a new sandbox would fail alike.
var errSession = errors.New("the session's own setup failed")

// takeRun is one handover in progress.
type takeRun struct {
	m     *Manager
	cfg   *core.SandboxConfig
	start time.Time
	ws    *workspace
	env   map[string]string // the session's env and secrets

	rec     *Record
	srv     *kernel.Server
	session *Session
}

// planTake checks what the session brings before a sandbox is claimed:
// the workspace, the secrets, the preload defaults. nil, nil: this config
// cannot be served warm (a secret only the provider's own store holds:
// that is attached when a sandbox is made).
func (m *Manager) planTake(cfg *core.SandboxConfig, secretStore bool) (*takeRun, error) {
	gpu, _ := core.ParseGPU(cfg.GPU) // validated
	if err := preloadDefaults(cfg.Models, gpu.Kind != ""); err != nil {
		return nil, err
	}
	ws, err := prepareWorkspace(&cfg.Workspace, m.skills)
	if err != nil {
		return nil, err
	}
	secrets, err := resolveSecrets(cfg.Secrets, secretStore)
	if err != nil {
		return nil, err
	}
	if len(secrets) < len(cfg.Secrets) {
		return nil, nil
	}
	env := maps.Clone(cfg.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, secrets)
	return &takeRun{m: m, cfg: cfg, ws: ws, env: env}, nil
}

func (t *takeRun) mark(phase string) {
	t.rec.Phases = append(t.rec.Phases, Phase{Name: phase, Seconds: time.Since(t.start).Seconds()})
}

// take hands the claimed warm sandbox id over to the session, step by step.
// On failure the sandbox is stopped (it may hold the session's secrets now,
// so it never goes back to the pool).
func (t *takeRun) take(ctx context.Context, id string) (*Record, error) {
	defer func() {
		if t.session != nil {
			t.session.Close()
		}
	}()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"claim", func(context.Context) error { return t.claim(id) }},
		{"connect", t.connect},
		{"hand over", t.handOver},
		{"notebook", t.notebook},
		{"preload", t.preload},
		{"init code", t.initCode},
		{"ready", t.ready},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			t.m.log.Debug("handover failed", "step", s.name, "err", err)
			if t.rec != nil {
				t.cleanup()
			}
			return nil, err
		}
	}
	t.m.takenFromPool(t.rec.Warm.Pool)
	return t.rec, nil
}

// claim marks the warm sandbox as this process's: starting, owned by it,
// so a death here leaves it to gc like any up cut short.
func (t *takeRun) claim(id string) error {
	rec, err := t.m.store.Get(id)
	if err != nil {
		return err
	}
	if rec.State != StateWarm || rec.Warm == nil {
		return fmt.Errorf("warm sandbox %s was taken or stopped meanwhile", id)
	}
	t.rec = rec
	rec.Warm.FillPhases, rec.Phases = rec.Phases, nil
	rec.Warm.TakenAt = time.Now().UTC()
	rec.State, rec.UpOwner = StateStarting, upOwner()
	t.mark("pool_claimed")
	return t.m.store.Put(rec)
}

func (t *takeRun) connect(ctx context.Context) error {
	token, err := t.m.store.Token(t.rec.ID)
	if err != nil {
		return err
	}
	if t.srv, err = kernel.NewServer(t.rec.Endpoint.URL, token); err != nil {
		return err
	}
	k, err := t.srv.Connect(ctx, t.rec.KernelID)
	if err != nil {
		return err
	}
	t.session = &Session{Record: t.rec, store: t.m.store, srv: t.srv, k: k}
	return nil
}

// handOver applies what is per session: its env and secrets, its
// workspace, its idle rule (the pool's TTL no longer applies), and its
// timeout when it has one (otherwise it keeps the pool's lifetime, which
// its provider enforces).
func (t *takeRun) handOver(ctx context.Context) error {
	idle := t.cfg.IdleTimeout.Std().Seconds()
	var lifetime *float64
	if t.cfg.Timeout > 0 {
		l := t.cfg.Timeout.Std().Seconds()
		lifetime = &l
	}
	if err := handOver(ctx, t.srv, t.session.kernel(), t.env, t.ws.files, t.ws.skills, &idle, lifetime); err != nil {
		return err
	}
	t.mark("handed_over")
	if !t.rec.Warm.ExpiresAt.IsZero() && t.cfg.Timeout == 0 {
		t.m.progress("session %s comes from warm pool %s: it stops at %s, the pool's lifetime (give --timeout for a shorter one)",
			t.rec.ID, t.rec.Warm.Pool, t.rec.Warm.ExpiresAt.Local().Format("15:04:05"))
	}
	return nil
}

// notebook starts the session's notebook clean: the warm-up ran silently,
// so only the kernel's language and the environment manifest are in it,
// and the preload cells a cold up would have run (marked as run by the pool).
func (t *takeRun) notebook(ctx context.Context) error {
	nb, err := t.session.loadNotebook()
	if err != nil {
		return err
	}
	if t.rec.Environment != nil {
		nb.Metadata["sena"] = mustJSON(t.rec.Environment)
	}
	if t.rec.Warm.Preload != "" {
		for _, mc := range t.cfg.Models {
			if mc.Preload != nil && !mc.Hidden {
				c := nb.AddCode(preloadCode(mc, modelLoad{}))
				c.Metadata["sena"] = mustJSON(map[string]string{"ran": "before the session, in warm pool " + t.rec.Warm.Pool})
			}
		}
	}
	_, err = t.session.create(ctx, nb)
	return err
}

// preload loads the weights the session asks for when the pool loaded none.
func (t *takeRun) preload(ctx context.Context) error {
	if t.rec.Warm.Preload != "" || !hasPreload(t.cfg.Models) {
		return nil
	}
	var loads []modelLoad // the configured models, in order: pools hold no adapters (warmUp refuses them)
	for _, mdl := range t.rec.Models {
		if mdl.BaseOf == "" {
			loads = append(loads, modelLoad{path: modelPath(mdl.Path)})
		}
	}
	py := t.pySession()
	g, _ := core.ParseGPU(t.cfg.GPU)
	if err := t.m.preloadImports(ctx, py, g.Kind != ""); err != nil {
		return fmt.Errorf("%w: %w", errSession, err)
	}
	t.mark("torch_ready")
	if err := t.m.preloadWeights(ctx, py, t.cfg.Models, loads, t.mark, false); err != nil {
		return fmt.Errorf("%w: %w", errSession, err)
	}
	return nil
}

func (t *takeRun) pySession() *Session {
	pyRec := *t.rec
	pyRec.Mode = core.ModeNotebook
	return &Session{Record: &pyRec, store: t.m.store, srv: t.srv, k: t.session.kernel()}
}

func (t *takeRun) initCode(ctx context.Context) error {
	u := &upRun{m: t.m, rec: t.rec, plan: &Plan{InitCode: t.ws.initCode}}
	if err := u.runInit(ctx, t.pySession()); err != nil {
		return fmt.Errorf("%w: %w", errSession, err)
	}
	return nil
}

func (t *takeRun) ready(context.Context) error {
	r := t.rec
	r.Config, r.Mode, r.Skills = *t.cfg, t.cfg.Mode, t.ws.skills
	r.State, r.UpOwner = StateReady, ""
	t.mark("ready")
	return t.m.store.Put(r)
}

// cleanup stops a sandbox whose handover failed.
func (t *takeRun) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.m.Down(ctx, t.rec.ID); err != nil {
		t.m.log.Warn("cleanup after failed handover", "session", t.rec.ID, "err", err)
		t.rec.State, t.rec.UpOwner = StateAbandoned, ""
		_ = t.m.store.Put(t.rec)
	}
}
