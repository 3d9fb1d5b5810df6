// Package sena is Sena as a Go library: sandboxes with a GPU, the models a
// researcher studies already downloaded, and a live Jupyter kernel whose
// every cell lands in a notebook.
//
//	client, err := sena.New(sena.Params{})
//	sb, err := client.Up(ctx, &sena.Config{GPU: "A100", Models: []sena.Model{{Name: "google/gemma-2-9b-it"}}})
//	defer sb.Down(context.WithoutCancel(ctx))
//	ex, err := sb.Execute(ctx, "print(1 + 1)", nil)
//	fmt.Print(ex.Text())
//
// New wires what the sena command wires: the built-in providers (local,
// docker, modal) and plugins, the skills shipped with Sena, the Hugging Face
// Hub client, and the state dir the CLI uses, so `sena ls`, `sena exec` and
// the MCP tools see the sessions a program started, and the other way round.
// The parts are in core (config, the Provider interface), core/session (the
// session model this package drives), hub and providers.
package sena

import (
	"context"
	"io/fs"
	"log/slog"
	"os"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/hub"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers"
	"github.com/sena-labs/sena/skills"
)

// The configuration types, under the names a program reads best.
type (
	// Config is everything needed to bring a sandbox up (core.SandboxConfig;
	// docs/configuration.md describes each field).
	Config = core.SandboxConfig
	// Model names a Hugging Face model.
	Model = core.ModelConfig
	// Workspace is the libraries, skills and init code a sandbox starts with.
	Workspace = core.Workspace
	// Library is a .py file, a package directory, or inline code.
	Library = core.Library
	// Progress is one report of how Up goes.
	Progress = core.Progress
	// Execution is the outcome of one cell; Text gives what it printed.
	Execution = session.Execution
	// ExecOptions tune one execution (a timeout, a callback per output).
	ExecOptions = session.ExecOptions
)

// Params configure a Client. The zero value is what the sena command uses.
type Params struct {
	// StateDir is where sessions are recorded: default $SENA_STATE_DIR, else
	// $XDG_STATE_HOME/sena, else ~/.local/state/sena, as the CLI.
	StateDir string
	// PluginDirs are searched for sena-provider-NAME plugins before the
	// default directory: default $SENA_PLUGIN_DIR (colon-separated).
	PluginDirs []string
	// Models fetches weights into the host's Hugging Face cache: default the
	// Hub client with huggingface_hub's settings (HF_ENDPOINT, HF_TOKEN,
	// HF_HUB_CACHE, ...).
	Models session.ModelFetcher
	// Skills are the skills found by bare name (Workspace.Skills: "steering"):
	// default those shipped with Sena.
	Skills fs.FS
	// Progress hears how Up goes (environment and image builds, model
	// downloads, notes); default: nothing.
	Progress func(Progress)
	// Logger receives debugging detail; default: discarded.
	Logger *slog.Logger
}

// Client brings sessions up and finds them again.
type Client struct {
	m *session.Manager
}

// New returns a Client with p's settings and defaults for the rest.
func New(p Params) (*Client, error) {
	dir := p.StateDir
	if dir == "" {
		dir = session.DefaultStateDir()
	}
	store, err := session.OpenStore(dir)
	if err != nil {
		return nil, err
	}
	dirs := p.PluginDirs
	if dirs == nil {
		dirs = plugin.Dirs(os.Getenv("SENA_PLUGIN_DIR"))
	}
	if p.Models == nil {
		p.Models = hub.NewClient(nil)
	}
	if p.Skills == nil {
		p.Skills = skills.FS
	}
	m := session.NewManager(session.Params{
		Store: store, Providers: providers.NewRegistry(dirs, p.Logger), Logger: p.Logger,
		Skills: p.Skills, Models: p.Models, Progress: p.Progress,
	})
	return &Client{m: m}, nil
}

// Manager is the session manager underneath, for what this package does
// not wrap (List, GC, NotebookFile).
func (c *Client) Manager() *session.Manager { return c.m }

// Up brings a sandbox up as `sena up` does and returns it attached: its
// kernel answers and the notebook is ready. Settings cfg leaves empty take
// the ambient defaults the CLI uses ($SENA_PROVIDER, else local; for the
// local provider $SENA_PYTHON). Whatever fails is torn down; once Up
// returns, the sandbox runs until Down (or its Timeout).
func (c *Client) Up(ctx context.Context, cfg *Config) (*Sandbox, error) {
	cfg.FillAmbient(envOr("SENA_PROVIDER", "local"), os.Getenv("SENA_PYTHON"))
	rec, err := c.m.Up(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sb, err := c.Attach(ctx, rec.ID)
	if err != nil {
		_ = c.m.Down(context.WithoutCancel(ctx), rec.ID)
		return nil, err
	}
	return sb, nil
}

// Attach connects to a session that is up (this process's, another's or
// the CLI's), by id or a unique prefix of one.
func (c *Client) Attach(ctx context.Context, id string) (*Sandbox, error) {
	s, err := c.m.Attach(ctx, id)
	if err != nil {
		return nil, err
	}
	url, err := c.m.JupyterURL(s.Record)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Sandbox{Session: s, m: c.m, url: url}, nil
}

// Sandbox is a session that is up, with a live connection to its kernel:
// Execute runs a cell and appends it to the notebook, AddMarkdown documents,
// Interrupt and Restart manage the kernel (see session.Session).
type Sandbox struct {
	*session.Session
	m   *session.Manager
	url string
}

// JupyterURL opens the session's notebook in JupyterLab, token included.
func (s *Sandbox) JupyterURL() string { return s.url }

// NotebookPath is the notebook's copy on this machine, updated after every
// cell; it is kept after Down.
func (s *Sandbox) NotebookPath() string { return s.m.Store().NotebookPath(s.ID) }

// Down stops the sandbox: its kernel, server and backend resources. The
// notebook stays at NotebookPath.
func (s *Sandbox) Down(ctx context.Context) error {
	s.Close()
	return s.m.Down(ctx, s.ID)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
