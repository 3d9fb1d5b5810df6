package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/hub"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers"
	"github.com/sena-labs/sena/skills"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newApp() *cli.App {
	app := &cli.App{
		Name:    "sena",
		Usage:   "sandboxes with a GPU, models and a live Jupyter kernel for interpretability research",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "provider", Value: envOr("SENA_PROVIDER", "local"), Usage: "provider that runs sandboxes: local, docker, modal or a plugin name (env SENA_PROVIDER)"},
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{"SENA_STATE_DIR"}, Usage: "where sessions are recorded (default $XDG_STATE_HOME/sena)"},
			&cli.StringFlag{Name: "plugin-dir", EnvVars: []string{"SENA_PLUGIN_DIR"}, Usage: "directories (colon-separated) searched for sena-provider-NAME plugins, before " + plugin.DefaultDir()},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document on stdout (schemas in docs/schemas/); progress stays on stderr as plain lines"},
			&cli.BoolFlag{Name: "no-color", Usage: "no colours (also when NO_COLOR is set)"},
			&cli.BoolFlag{Name: "debug", Usage: "log debugging detail to stderr"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the command line and say what would run, without running it (up and warm: print the resolved config)"},
		},
		Commands: []*cli.Command{
			quickstartCommand, upCommand, warmCommand, execCommand, lsCommand, urlCommand, connectCommand,
			notebookCommand, snapshotCommand, snapshotsCommand, downCommand, gcCommand, pullCommand, providersCommand, skillsCommand,
			mcpCommand, completionCommand, completeCommand, keeperCommand,
		},
		// A list flag's value is one item: pip requirements hold commas.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {}, // main prints and exits
		OnUsageError:              onUsageError,
	}
	for _, c := range app.Commands {
		setUsageErrors(c)
	}
	return app
}

// errDryRun ends a --dry-run after its report (exit 0).
var errDryRun = errors.New("dry run")

// dryRun is every command's Before: with --dry-run it reports what the
// command line asks and stops there. For up that is the config it would
// bring up, checked as far as it can be without the provider.
func dryRun(c *cli.Context) error {
	lineage := c.Lineage()
	global := len(lineage) > 1 && lineage[1].Bool("dry-run") // given before the command
	if !c.Bool("dry-run") && !global || c.Command.Name == completeCommand.Name || !global && ownsFlag(c.Command, "dry-run") {
		return nil
	}
	if c.Command.Name == warmCommand.Name {
		if err := warmDryRun(c); err != nil {
			return err
		}
		return errDryRun
	}
	if c.Command.Name == "up" {
		cfg, err := upConfig(c)
		if err != nil {
			return err
		}
		if err := cfg.Normalize(); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		if err := writeJSON(c, cfg); err != nil {
			return err
		}
		return errDryRun
	}
	fmt.Fprintf(c.App.ErrWriter, "sena: dry run: %s %s\n", c.Command.FullName(), strings.Join(c.Args().Slice(), " "))
	return errDryRun
}

// ownsFlag: the command has a flag of that name of its own (gc's
// --dry-run, which lists images), and acts on it itself when given after
// the command.
func ownsFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// onUsageError turns v2's flag parsing errors (a missing or malformed value)
// into usage errors (exit 2) instead of printing help on stdout.
func onUsageError(c *cli.Context, err error, _ bool) error {
	where := "sena"
	if c.Command != nil && c.Command.Name != "" {
		where = "sena " + c.Command.FullName()
	}
	return usageErr("%v (see %s --help)", err, where)
}

func setUsageErrors(c *cli.Command) {
	c.OnUsageError = onUsageError
	c.Before = dryRun
	for _, s := range c.Subcommands {
		setUsageErrors(s)
	}
}

// env is what every command needs, built from the global flags.
type env struct {
	manager  *session.Manager
	registry *providers.Registry
	log      *slog.Logger
	json     bool
	color    bool
}

func newEnv(c *cli.Context) (*env, error) { return newEnvLevel(c, slog.LevelWarn) }

// newEnvLevel is newEnv logging from level up (--debug: everything).
func newEnvLevel(c *cli.Context, level slog.Level) (*env, error) {
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(progressWriter(), &slog.HandlerOptions{Level: level}))
	dir := c.String("state-dir")
	if dir == "" {
		dir = session.DefaultStateDir()
	}
	store, err := session.OpenStore(dir)
	if err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	reg := providers.NewRegistry(plugin.Dirs(c.String("plugin-dir")), logger)
	m := session.NewManager(session.Params{
		Store: store, Providers: reg, Logger: logger, Skills: skills.FS, Version: version,
		Models: hub.NewClient(nil),
		// Progress goes to stderr, so stdout stays one JSON document with --json.
		Progress: startProgress(c),
	})
	return &env{manager: m, registry: reg, log: logger, json: c.Bool("json"), color: useColor(c, os.Stdout)}, nil
}

// envOr is the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
