package main

import (
	"fmt"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/urfave/cli/v2"
)

var upCommand = &cli.Command{
	Name:      "up",
	Usage:     "bring a sandbox up and return once its kernel answers",
	UsageText: "sena [--provider NAME] up [-f sena.yaml] [flags]",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "YAML config file (flags below add to or override it)"},
		&cli.StringFlag{Name: "provider", Usage: "same as the global --provider, for `sena up --provider docker`"},
		&cli.StringFlag{Name: "gpu", Usage: "GPU kind and count: T4, A100, H100, H100:4 (default: CPU only)"},
		&cli.StringSliceFlag{Name: "model", Usage: "Hugging Face model ORG/NAME[@REVISION], repeatable; its path is in MODEL_<NAME>_PATH"},
		&cli.BoolFlag{Name: "preload", Usage: "load each --model and its tokenizer into the kernel (as model, tokenizer; then model_2, ...) before returning"},
		&cli.StringFlag{Name: "dtype", Usage: "with --preload: torch dtype (bfloat16, float16, float32, auto)"},
		&cli.StringFlag{Name: "device-map", Usage: "with --preload: device_map for from_pretrained (auto with a GPU, cuda, cpu)"},
		&cli.BoolFlag{Name: "hide-models", Usage: "keep the --model names out of the notebook and the sandbox's environment (implies --preload)"},
		&cli.StringSliceFlag{Name: "package", Usage: "pip requirement to install, repeatable"},
		&cli.StringSliceFlag{Name: "system-package", Usage: "Debian package to install (container providers), repeatable"},
		&cli.StringSliceFlag{Name: "library", Usage: "a .py file or package directory importable in the kernel, repeatable"},
		&cli.StringSliceFlag{Name: "skill", Usage: "a skill directory (with SKILL.md) or a built-in skill name, repeatable"},
		&cli.StringSliceFlag{Name: "secret", Usage: "name of an environment variable (or .env entry) passed to the sandbox only, repeatable"},
		&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE set in the sandbox, repeatable"},
		&cli.StringFlag{Name: "init", Usage: "Python code run once in the kernel when the session starts"},
		&cli.StringFlag{Name: "mode", Usage: "notebook (Python cells) or cli (shell commands)"},
		&cli.StringFlag{Name: "timeout", Usage: "stop the sandbox after this long, as 90m or 2h"},
		&cli.StringFlag{Name: "idle-timeout", Usage: "stop the sandbox after this long without kernel activity"},
		&cli.StringFlag{Name: "python", EnvVars: []string{"SENA_PYTHON"}, Usage: "local provider: Python interpreter with jupyter_server and ipykernel"},
		&cli.StringFlag{Name: "image", Usage: "container providers: image to run"},
		&cli.Float64Flag{Name: "cpus", Usage: "CPU limit (container providers)"},
		&cli.Int64Flag{Name: "memory", Usage: "memory limit in MiB (container providers)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("up takes no arguments, got %q (see sena up --help)", c.Args().First())
		}
		cfg, err := upConfig(c)
		if err != nil {
			return err
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		rec, err := e.manager.Up(c.Context, cfg)
		if err != nil {
			return err
		}
		return printUp(c, e, rec)
	},
}

// upConfig merges the config file and the flags (flags win; lists append).
func upConfig(c *cli.Context) (*core.SandboxConfig, error) {
	cfg := &core.SandboxConfig{}
	if f := c.String("file"); f != "" {
		var err error
		if cfg, err = core.LoadConfig(f); err != nil {
			return nil, err
		}
	}
	flags := &core.SandboxConfig{
		GPU: c.String("gpu"), Python: c.String("python"), Image: c.String("image"),
		Mode: core.Mode(c.String("mode")), CPUs: c.Float64("cpus"), MemoryMiB: c.Int64("memory"),
		PythonPackages: c.StringSlice("package"), SystemPackages: c.StringSlice("system-package"),
		Secrets:   c.StringSlice("secret"),
		Workspace: core.Workspace{InitCode: c.String("init"), Skills: c.StringSlice("skill")},
	}
	if c.IsSet("provider") || cfg.Provider == "" {
		flags.Provider = providerFlag(c)
	}
	for _, d := range []struct {
		flag string
		dst  *core.Duration
	}{{"timeout", &flags.Timeout}, {"idle-timeout", &flags.IdleTimeout}} {
		v, err := core.ParseDuration(c.String(d.flag))
		if err != nil {
			return nil, err
		}
		*d.dst = core.Duration(v)
	}
	var err error
	flags.Models, err = core.ParseModels(c.StringSlice("model"), core.ModelOptions{
		Preload: c.Bool("preload"), Hidden: c.Bool("hide-models"),
		Dtype: c.String("dtype"), DeviceMap: c.String("device-map"),
	})
	if err != nil {
		return nil, err
	}
	if flags.Env, err = core.ParseEnv(c.StringSlice("env")); err != nil {
		return nil, err
	}
	for _, l := range c.StringSlice("library") {
		flags.Workspace.Libraries = append(flags.Workspace.Libraries, core.Library{Path: l})
	}
	cfg.Overlay(flags)
	return cfg, nil
}

// upOutput is what `sena up --json` prints.
type upOutput struct {
	SessionID    string          `json:"session_id"`
	SandboxID    string          `json:"sandbox_id"`
	Provider     string          `json:"provider"`
	Mode         core.Mode       `json:"mode"`
	JupyterURL   string          `json:"jupyter_url"`
	NotebookPath string          `json:"notebook_path"`
	KernelID     string          `json:"kernel_id"`
	GPU          string          `json:"gpu,omitempty"`
	Models       []session.Model `json:"models,omitempty"`
	Skills       []session.Skill `json:"skills,omitempty"`
	Phases       []session.Phase `json:"phases"`
}

func printUp(c *cli.Context, e *env, rec *session.Record) error {
	url, err := e.manager.JupyterURL(rec)
	if err != nil {
		return err
	}
	out := upOutput{
		SessionID: rec.ID, SandboxID: rec.Handle.ID, Provider: rec.Provider, Mode: rec.Mode,
		JupyterURL: url, NotebookPath: e.manager.Store().NotebookPath(rec.ID), KernelID: rec.KernelID,
		GPU: rec.Config.GPU, Models: rec.Models, Skills: rec.Skills, Phases: rec.Phases,
	}
	if e.json {
		return writeJSON(c, out)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "session   %s (%s, %s)\n", out.SessionID, out.Provider, out.Mode)
	fmt.Fprintf(w, "jupyter   %s\n", out.JupyterURL)
	fmt.Fprintf(w, "notebook  %s\n", out.NotebookPath)
	for _, m := range out.Models {
		if m.Hidden {
			fmt.Fprintf(w, "model     (hidden)\n")
			continue
		}
		fmt.Fprintf(w, "model     %s in $%s\n", m.Name, m.EnvVar)
	}
	for _, s := range out.Skills {
		fmt.Fprintf(w, "skill     %s: %s\n", s.Name, s.Description)
	}
	fmt.Fprintf(w, "\nrun code: sena exec %s 'print(1 + 1)'\nstop it:  sena down %s\n", out.SessionID, out.SessionID)
	return nil
}

// providerFlag is up's own --provider if given, else the global one (its
// value, environment or default).
func providerFlag(c *cli.Context) string {
	if p := c.String("provider"); p != "" {
		return p
	}
	return c.Lineage()[1].String("provider")
}
