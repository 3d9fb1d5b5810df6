package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers"
	"github.com/sena-labs/sena/skills"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newApp() *cli.App {
	return &cli.App{
		Name:    "sena",
		Usage:   "sandboxes with a GPU, models and a live Jupyter kernel for interpretability research",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "provider", Value: envOr("SENA_PROVIDER", "local"), Usage: "provider that runs sandboxes: local, docker, modal or a plugin name (env SENA_PROVIDER)"},
			&cli.StringFlag{Name: "state-dir", EnvVars: []string{"SENA_STATE_DIR"}, Usage: "where sessions are recorded (default $XDG_STATE_HOME/sena)"},
			&cli.StringFlag{Name: "plugin-dir", EnvVars: []string{"SENA_PLUGIN_DIR"}, Usage: "directories (colon-separated) searched for sena-provider-NAME plugins, before " + plugin.DefaultDir()},
			&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"},
			&cli.BoolFlag{Name: "debug", Usage: "log debugging detail to stderr"},
		},
		Commands: []*cli.Command{
			quickstartCommand, upCommand, execCommand, lsCommand, downCommand, notebookCommand,
			providersCommand, gcCommand, skillsCommand, mcpCommand, pullCommand,
		},
		// A list flag's value is one item: pip requirements hold commas.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {}, // main prints and exits
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageErr("%v", err)
		},
	}
}

// env is what every command needs, built from the global flags.
type env struct {
	manager  *session.Manager
	registry *providers.Registry
	log      *slog.Logger
	json     bool
}

func newEnv(c *cli.Context) (*env, error) {
	level := slog.LevelWarn
	if c.Bool("debug") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
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
		Models: newModelFetcher(c.Bool("json")),
		// Progress goes to stderr, so stdout stays one JSON document with --json.
		Progress: func(msg string) { fmt.Fprintln(os.Stderr, "sena:", msg) },
	})
	return &env{manager: m, registry: reg, log: logger, json: c.Bool("json")}, nil
}

// envOr is the environment variable's value, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
