package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/providers/modal"
	"github.com/urfave/cli/v2"
)

// freeProviders run sandboxes on this host: a warm pool of theirs costs
// memory, not money. Any other provider's pool needs --accept-cost.
var freeProviders = []string{"local", "docker"}

var warmCommand = &cli.Command{
	Name:  "warm",
	Usage: "keep sandboxes of a config ready: `sena up` (and MCP start_session) with that config takes one instead of making one",
	UsageText: "sena warm [-f sena.yaml] [flags of up] [--count N] [--accept-cost]\n" +
		"sena warm --stop [-f sena.yaml] [flags of up]\n\n" +
		"The flags are those of up. --timeout is the pool's lifetime (default 1h): no warm sandbox, and no\n" +
		"session taken from one, outlives it (a session's own --timeout may be shorter); --idle-timeout ends\n" +
		"the pool after that long without a session taking a sandbox. --preload loads the weights in advance\n" +
		"(onto the GPU with --gpu); without it a warm sandbox has torch, transformers and the models' code\n" +
		"imported, and serves ups with or without --preload. Per-session flags (--env, --secret, --library,\n" +
		"--skill, --init, --mode) are refused here: give them to sena up, which applies them when it takes a\n" +
		"sandbox (in a -f file they are noted and left for up). With --dry-run it prints the pool's config\n" +
		"and, on a provider that bills, the cost estimate, and starts nothing.\n" +
		"It returns once N sandboxes are warm; a keeper process (shown by sena ls) refills after each\n" +
		"handover. Stop it with sena warm --stop and the same flags, or sena down --all.",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "YAML config file (flags add to or override it)"},
		&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Value: 1, Usage: "how many sandboxes to keep warm"},
		&cli.BoolFlag{Name: "stop", Usage: "stop the pool of this config: its keeper and every sandbox of it no session took"},
		&cli.BoolFlag{Name: "accept-cost", Usage: "start a pool on a provider that bills while sandboxes wait (modal): the estimate is printed"},
	}, configFlags()...),
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("warm takes no arguments, got %q (see sena warm --help)", c.Args().First())
		}
		cfg, err := warmConfig(c)
		if err != nil {
			return err
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		if c.Bool("stop") {
			return stopPool(c, e, cfg)
		}
		return startPool(c, e, cfg)
	},
}

// perSessionFlags are up's flags that a session brings at handover: a
// warm pool has no use for them, so warm refuses them rather than
// accepting and ignoring them.
var perSessionFlags = []string{"env", "secret", "library", "skill", "init", "mode"}

// warmConfig is the config warm's flags and file give, checked as up
// checks it, with per-session flags refused and the lifetime's floor,
// the count and the cost gate checked before anything starts.
func warmConfig(c *cli.Context) (*core.SandboxConfig, error) {
	for _, f := range perSessionFlags {
		if c.IsSet(f) {
			return nil, usageErr("--%s is per session: give it to sena up, which applies it when it takes a warm sandbox (see sena warm --help)", f)
		}
	}
	if c.Int("count") < 1 {
		return nil, usageErr("--count must be at least 1, got %d", c.Int("count"))
	}
	if c.Bool("stop") {
		for _, f := range []string{"count", "accept-cost", "timeout", "idle-timeout"} {
			if c.IsSet(f) {
				return nil, usageErr("--stop finds the pool by its config flags; --%s is not one of them", f)
			}
		}
	}
	cfg, err := upConfig(c)
	if err != nil {
		return nil, err
	}
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// warmDryRun is `sena --dry-run warm`: the pool's config (per-session
// settings dropped), its count, lifetime and cost; nothing starts.
func warmDryRun(c *cli.Context) error {
	cfg, err := warmConfig(c)
	if err != nil {
		return err
	}
	pc, ignored, err := session.PoolConfig(cfg)
	if err != nil {
		return err
	}
	lifetime := cfg.Timeout.Std()
	if lifetime == 0 {
		lifetime = session.DefaultPoolLifetime
	}
	cost, err := poolCost(cfg, c.Int("count"), lifetime)
	if err != nil {
		return err
	}
	if err := costGate(c, cfg, cost, c.Int("count"), lifetime); err != nil && !c.Bool("stop") {
		return err
	}
	return writeJSON(c, map[string]any{"config": pc, "count": c.Int("count"), "lifetime": lifetime.String(),
		"idle_timeout": cfg.IdleTimeout.Std().String(), "cost": cost, "per_session_ignored": nonNil(ignored), "stop": c.Bool("stop")})
}

// costGate refuses a pool on a provider that bills unless --accept-cost.
func costGate(c *cli.Context, cfg *core.SandboxConfig, cost *warmCost, count int, lifetime time.Duration) error {
	if slices.Contains(freeProviders, cfg.Provider) || c.Bool("accept-cost") {
		return nil
	}
	what := "its sandboxes may be billed while they wait"
	if cost != nil {
		what = costLine(cost, count, lifetime)
	}
	return usageErr("a warm pool on %s costs money: %s; pass --accept-cost to start it", cfg.Provider, what)
}

// warmOutput is `sena warm --json` (docs/schemas/warm.schema.json).
type warmOutput struct {
	PoolID      string    `json:"pool_id"`
	Provider    string    `json:"provider"`
	GPU         string    `json:"gpu"`
	Models      []string  `json:"models"`
	Preload     bool      `json:"preload"`
	Count       int       `json:"count"`
	Warm        []string  `json:"warm"`
	ExpiresAt   time.Time `json:"expires_at"`
	IdleTimeout string    `json:"idle_timeout"`
	KeeperPID   int       `json:"keeper_pid"`
	Log         string    `json:"log"`
	// Cost is the estimate for a provider that bills while sandboxes wait.
	Cost *warmCost `json:"cost"`
	// Ignored are the per-session settings given, which sessions bring.
	Ignored []string `json:"ignored"`
	// FillPhases are how the first warm sandbox was made.
	FillPhases []session.Phase `json:"fill_phases"`
	// Stopped are the sandboxes --stop stopped.
	Stopped []string `json:"stopped"`
}

type warmCost struct {
	PerSandboxHour float64 `json:"per_sandbox_hour_usd"`
	PoolHour       float64 `json:"pool_hour_usd"`
	Lifetime       float64 `json:"lifetime_usd"`
	Basis          string  `json:"basis"`
}

func startPool(c *cli.Context, e *env, cfg *core.SandboxConfig) error {
	count := c.Int("count")
	lifetime := cfg.Timeout.Std()
	if lifetime == 0 {
		lifetime = session.DefaultPoolLifetime
	}
	_, ignored, err := session.PoolConfig(cfg)
	if err != nil {
		return err
	}
	cost, err := poolCost(cfg, count, lifetime)
	if err != nil {
		return err
	}
	if err := costGate(c, cfg, cost, count, lifetime); err != nil {
		return err
	}
	if len(ignored) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "sena: note: %s in the config file are per session: sena up with the file applies them when it takes a warm sandbox\n", strings.Join(ignored, ", "))
	}
	env, pre, err := session.PoolKeys(cfg)
	if err != nil {
		return err
	}
	id := session.PoolID(env, pre)
	prior, _ := e.manager.Pool(id)
	p, err := e.manager.EnsurePool(c.Context, cfg, session.PoolParams{Count: count, Lifetime: lifetime, IdleTimeout: cfg.IdleTimeout.Std()})
	if err != nil {
		return err
	}
	if cost != nil {
		fmt.Fprintf(c.App.ErrWriter, "sena: cost: %s\n", costLine(cost, count, lifetime))
	}
	if !p.KeeperAlive() {
		if err := spawnKeeper(c, e, p.ID); err != nil {
			return err
		}
	}
	progress := startProgress(c)
	ps, err := e.manager.WaitPool(c.Context, p.ID, func(ps session.PoolStatus) {
		progress(core.Progress{Step: "warm pool " + p.ID, Message: fmt.Sprintf("%d of %d warm, %d being made", len(ps.Warm), ps.Count, len(ps.Filling)),
			Done: int64(len(ps.Warm)), Total: int64(ps.Count), Unit: "sandboxes", Finished: len(ps.Warm) >= ps.Count})
	})
	if err != nil {
		if prior == nil { // a pool this command made: nothing of it stays
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, _ = e.manager.StopPool(ctx, p.ID)
			cancel()
		}
		return err
	}
	out := newWarmOutput(e, ps, cost, ignored)
	if e.json {
		return writeJSON(c, out)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "pool      %s (%s%s), keeper pid %d\n", out.PoolID, out.Provider, gpuNote(out.GPU), out.KeeperPID)
	fmt.Fprintf(w, "warm      %d of %d: %s\n", len(out.Warm), out.Count, strings.Join(out.Warm, ", "))
	if len(out.Models) > 0 {
		how := "imported, weights not loaded"
		if out.Preload {
			how = "weights loaded"
		}
		fmt.Fprintf(w, "models    %s (%s)\n", strings.Join(out.Models, ", "), how)
	}
	until := "until " + out.ExpiresAt.Local().Format("2006-01-02 15:04:05")
	if out.IdleTimeout != "" {
		until += ", or " + out.IdleTimeout + " without a session taking one"
	}
	fmt.Fprintf(w, "lifetime  %s\n", until)
	if cost != nil {
		fmt.Fprintf(w, "cost      %s\n", costLine(cost, count, lifetime))
	}
	fmt.Fprintf(w, "\nsena up with the same flags takes one; stop the pool: sena warm --stop (same flags) or sena down --all\n")
	return nil
}

func gpuNote(g string) string {
	if g == "" {
		return ""
	}
	return ", " + g
}

func newWarmOutput(e *env, ps session.PoolStatus, cost *warmCost, ignored []string) warmOutput {
	p := ps.Pool
	out := warmOutput{
		PoolID: p.ID, Provider: p.Config.Provider, GPU: p.Config.GPU, Models: []string{}, Preload: p.Preload != "",
		Count: p.Count, Warm: nonNil(ps.Warm), ExpiresAt: p.ExpiresAt, KeeperPID: p.KeeperPID(),
		Log: e.manager.Store().PoolLog(p.ID), Cost: cost, Ignored: nonNil(ignored), FillPhases: []session.Phase{}, Stopped: []string{},
	}
	if p.IdleTimeout > 0 {
		out.IdleTimeout = p.IdleTimeout.Std().String()
	}
	for _, m := range p.Config.Models {
		if m.Hidden {
			out.Models = append(out.Models, "(hidden)")
		} else {
			out.Models = append(out.Models, m.Name+revSuffix(m.Revision))
		}
	}
	if len(ps.Warm) > 0 {
		if rec, err := e.manager.Store().Get(ps.Warm[0]); err == nil {
			out.FillPhases = nonNil(rec.Phases)
		}
	}
	return out
}

func revSuffix(rev string) string {
	if rev == "" {
		return ""
	}
	return "@" + rev
}

// poolCost estimates a pool's cost where its provider bills (modal); nil
// for providers that run on this host, or whose prices are not known.
func poolCost(cfg *core.SandboxConfig, count int, lifetime time.Duration) (*warmCost, error) {
	if cfg.Provider != "modal" {
		return nil, nil
	}
	hourly, basis, err := modal.HourlyCost(cfg.GPU, cfg.CPUs, cfg.MemoryMiB)
	if err != nil {
		return nil, err
	}
	n := float64(count)
	return &warmCost{PerSandboxHour: hourly, PoolHour: n * hourly, Lifetime: n * hourly * lifetime.Hours(),
		Basis: basis + " an hour each, Modal's list prices (" + modal.PricesAsOf + "; modal.com/pricing has today's)"}, nil
}

func costLine(c *warmCost, count int, lifetime time.Duration) string {
	return fmt.Sprintf("about $%.2f an hour for %d warm sandbox(es) (%s), up to $%.2f over the pool's lifetime of %s",
		c.PoolHour, count, c.Basis, c.Lifetime, lifetime)
}

func stopPool(c *cli.Context, e *env, cfg *core.SandboxConfig) error {
	env, pre, err := session.PoolKeys(cfg)
	if err != nil {
		return err
	}
	id := session.PoolID(env, pre)
	_, perr := e.manager.Pool(id)
	stopped, err := e.manager.StopPool(c.Context, id)
	if err != nil {
		return err
	}
	if errors.Is(perr, core.ErrNotFound) && len(stopped) == 0 {
		return core.Errorf(core.ErrNotFound, "no warm pool of this config (%s): `sena ls` shows the pools", id)
	}
	if e.json {
		return writeJSON(c, warmOutput{PoolID: id, Provider: cfg.Provider, GPU: cfg.GPU, Models: []string{}, Warm: []string{}, Ignored: []string{},
			FillPhases: []session.Phase{}, Stopped: nonNil(stopped), Log: e.manager.Store().PoolLog(id)})
	}
	fmt.Fprintf(c.App.Writer, "stopped pool %s and %d warm sandbox(es)\n", id, len(stopped))
	return nil
}

// spawnKeeper starts the pool's keeper: this sena, in a session of its
// own (it outlives this command and its terminal), logging to the pool's
// log. It inherits this environment (the provider's credentials, the Hub
// endpoint); warm sandboxes get none of it but what their config sets.
func spawnKeeper(c *cli.Context, e *env, id string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the sena binary for the pool's keeper: %w", err)
	}
	args := []string{"--state-dir", e.manager.Store().Dir}
	for _, ctx := range c.Lineage() {
		if v := ctx.String("plugin-dir"); v != "" {
			args = append(args, "--plugin-dir", v)
			break
		}
	}
	args = append(args, keeperCommand.Name, id)
	logf, err := os.OpenFile(e.manager.Store().PoolLog(id), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the pool's keeper: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reaped if it ends while this command waits
	return nil
}

// keeperCommand is the keeper process `sena warm` starts.
var keeperCommand = &cli.Command{
	Name:      "keep-pool",
	Hidden:    true,
	Usage:     "keep a warm pool filled (started by sena warm)",
	UsageText: "sena keep-pool POOL",
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return usageErr("keep-pool wants one POOL id")
		}
		e, err := newEnvLevel(c, slog.LevelInfo)
		if err != nil {
			return err
		}
		wake := make(chan struct{}, 1)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGUSR1) // a session took a sandbox
		defer signal.Stop(sigs)
		go func() {
			for range sigs {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
		return e.manager.Keep(c.Context, c.Args().First(), wake)
	},
}
