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
		fmt.Fprintf(c.App.Writer, ">>> %s\n", quickstartCode)
		p := &outputPrinter{stdout: c.App.Writer, stderr: c.App.ErrWriter, skipError: s.IsExitStatus}
		if _, err := s.Execute(c.Context, quickstartCode, &session.ExecOptions{OnEvent: p.event}); err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer)
		return printUp(c, e, rec)
	},
}
