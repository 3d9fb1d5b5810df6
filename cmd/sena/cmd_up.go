package main

import (
	"fmt"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/urfave/cli/v2"
)

var upCommand = &cli.Command{
	Name:  "up",
	Usage: "bring a sandbox up and return once its kernel answers",
	UsageText: "sena up [-f sena.yaml] [flags]\n\n" +
		"Flags add to the file's lists and override its values; docs/configuration.md describes each.\n" +
		"Ctrl-C tears down whatever up had started (exit 130).",
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "YAML config file (flags add to or override it)"},
	}, configFlags()...),
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

// upOutput is what `sena up --json` prints (docs/schemas/up.schema.json).
type upOutput struct {
	SessionID    string          `json:"session_id"`
	SandboxID    string          `json:"sandbox_id"`
	Provider     string          `json:"provider"`
	Mode         core.Mode       `json:"mode"`
	JupyterURL   string          `json:"jupyter_url"`
	NotebookPath string          `json:"notebook_path"`
	KernelID     string          `json:"kernel_id"`
	GPU          string          `json:"gpu"`
	Models       []session.Model `json:"models"`
	Skills       []session.Skill `json:"skills"`
	Phases       []session.Phase `json:"phases"`
	// Environment is what the kernel was checked to run in.
	Environment *session.Environment `json:"environment,omitempty"`
	// Resumed is what --resume re-ran.
	Resumed *session.Resumed `json:"resumed,omitempty"`
	// FromPool: the session took a warm pool's sandbox (Warm says which and
	// how it was made; Phases are then the handover's).
	FromPool bool          `json:"from_pool"`
	Warm     *session.Warm `json:"warm,omitempty"`
}

func newUpOutput(e *env, rec *session.Record) (upOutput, error) {
	url, err := e.manager.JupyterURL(rec)
	if err != nil {
		return upOutput{}, err
	}
	return upOutput{
		SessionID: rec.ID, SandboxID: rec.Handle.ID, Provider: rec.Provider, Mode: rec.Mode,
		JupyterURL: url, NotebookPath: e.manager.Store().NotebookPath(rec.ID), KernelID: rec.KernelID,
		GPU: rec.Config.GPU, Models: nonNil(rec.Models), Skills: nonNil(rec.Skills), Phases: nonNil(rec.Phases),
		Environment: rec.Environment, Resumed: rec.Resumed, FromPool: rec.Warm != nil, Warm: rec.Warm,
	}, nil
}

// nonNil makes an empty list print as [], not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func printUp(c *cli.Context, e *env, rec *session.Record) error {
	out, err := newUpOutput(e, rec)
	if err != nil {
		return err
	}
	if e.json {
		return writeJSON(c, out)
	}
	printUpText(c, out)
	return nil
}

func printUpText(c *cli.Context, out upOutput) {
	w := c.App.Writer
	fmt.Fprintf(w, "session   %s (%s, %s)\n", out.SessionID, out.Provider, out.Mode)
	if out.Warm != nil {
		fmt.Fprintf(w, "warm      from pool %s, ready in %s\n", out.Warm.Pool, time.Duration(lastPhase(out.Phases)*float64(time.Second)).Round(time.Millisecond))
	}
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
	if env := out.Environment; env != nil {
		fmt.Fprintf(w, "checked   Python %s, %d packages%s\n", env.Python.Version, len(env.Packages), gpuSummary(env.GPU))
	}
	if r := out.Resumed; r != nil {
		fmt.Fprintf(w, "resumed   %d of %d code cells of %s", r.Ran, r.Cells, r.From)
		if r.Failed > 0 {
			fmt.Fprintf(w, "; code cell %d raised %s (it is in the notebook, with what came before)", r.Failed, r.Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nrun code: sena exec %s 'print(1 + 1)'\nstop it:  sena down %s\n", out.SessionID, out.SessionID)
}

// gpuSummary is ", 2 x NVIDIA H100" for up's output, "" without a GPU.
func gpuSummary(g session.GPUInfo) string {
	if g.Count == 0 {
		return ""
	}
	return fmt.Sprintf(", %d x %s", g.Count, g.Names[0])
}

// lastPhase is when the last phase ended, in seconds from the start of up.
func lastPhase(ps []session.Phase) float64 {
	if len(ps) == 0 {
		return 0
	}
	return ps[len(ps)-1].Seconds
}
