package main

import (
	"fmt"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/urfave/cli/v2"
)

// quickstartCode shows in one cell what a session gives: a kernel, its
// Python, and the GPU if there is one.
const quickstartCode = `import platform, sys
print("hello from Sena: Python", platform.python_version(), "on", platform.node())
try:
    import torch
    print("torch", torch.__version__, "cuda:", torch.cuda.is_available())
except ImportError:
    print("torch is not installed here (add it with --package torch)")`

var quickstartCommand = &cli.Command{
	Name:  "quickstart",
	Usage: "bring a session up on the local provider, run a first cell, and leave it running",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "python", EnvVars: []string{"SENA_PYTHON"}, Usage: "Python interpreter with jupyter_server and ipykernel (default: Sena builds and caches one)"},
	},
	Action: func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usageErr("quickstart takes no arguments, got %q (see sena quickstart --help)", c.Args().First())
		}
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		rec, err := e.manager.Up(c.Context, &core.SandboxConfig{Provider: c.String("provider"), Python: c.String("python")})
		if err != nil {
			return err
		}
		s, err := e.manager.Attach(c.Context, rec.ID)
		if err != nil {
			return err
		}
		defer s.Close()
		if !e.json {
			fmt.Fprintf(c.App.Writer, ">>> %s\n", quickstartCode)
		}
		p := &outputPrinter{stdout: c.App.Writer, stderr: c.App.ErrWriter, quiet: e.json, skipError: s.IsExitStatus, color: e.color}
		ex, err := s.Execute(c.Context, quickstartCode, &session.ExecOptions{OnEvent: p.event})
		if err != nil {
			return err
		}
		out, err := newUpOutput(e, rec)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(c, quickstartOutput{upOutput: out, FirstCell: newExecOutput(rec.ID, ex)})
		}
		fmt.Fprintln(c.App.Writer)
		printUpText(c, out)
		return nil
	},
}

// quickstartOutput is `sena quickstart --json`: up's output and the first
// cell's (docs/schemas/quickstart.schema.json).
type quickstartOutput struct {
	upOutput
	FirstCell execOutput `json:"first_cell"`
}
