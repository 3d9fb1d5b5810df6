package plugin

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner starts a plugin process for go-plugin. It differs from
// go-plugin's own runner in two ways: the plugin does not share the host's
// stdin (sena mcp speaks JSON-RPC there), and it runs in its own process
// group, killed as a whole, so that a child a plugin (or a shell script
// posing as one) left behind cannot hold its output pipes open and stall
// Close or a failed Launch.
type procRunner struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
}

var _ runner.Runner = (*procRunner)(nil)

// newRunner returns a go-plugin RunnerFunc for the binary at path, run with
// env. go-plugin passes a command that only carries the variables of its
// handshake (the host's are skipped), which are added to env.
func newRunner(path string, env []string) func(hclog.Logger, *exec.Cmd, string) (runner.Runner, error) {
	return func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
		cmd := exec.Command(path)
		cmd.Env = append(append([]string{}, env...), spec.Env...)
		ownProcessGroup(cmd)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		return &procRunner{cmd: cmd, stdout: stdout, stderr: stderr}, nil
	}
}

func (r *procRunner) Start(context.Context) error     { return r.cmd.Start() }
func (r *procRunner) Diagnose(context.Context) string { return "" }
func (r *procRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *procRunner) Name() string                    { return r.cmd.Path }
func (r *procRunner) Wait(context.Context) error      { return r.cmd.Wait() }

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	killProcessGroup(r.cmd.Process.Pid)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) ID() string {
	if r.cmd.Process == nil {
		return ""
	}
	return strconv.Itoa(r.cmd.Process.Pid)
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
