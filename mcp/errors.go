package mcp

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/session"
)

// agentError rewrites a Go error into words an agent can act on, naming
// the tools that fix it. It is returned from a handler, so the SDK sends
// it as a tool error (isError), never as a protocol failure.
func (s *Server) agentError(id string, err error) error {
	switch {
	case errors.Is(err, core.ErrNotFound):
		if _, statErr := os.Stat(s.m.Store().NotebookPath(id)); statErr == nil {
			return fmt.Errorf("session %s is stopped: its sandbox and kernel are gone (shut down, or stopped by its provider). "+
				"Its notebook is kept: get_notebook_outputs and read_output still read it; start_session starts a new session", id)
		}
		return fmt.Errorf("unknown session %q: list_sessions shows the sessions; start_session starts one; "+
			"a session attached by jupyter_url lasts only as long as this MCP server (attach again)", id)
	case errors.Is(err, kernel.ErrKernelDead):
		return fmt.Errorf("the kernel of session %s is dead, and Sena does not replace it silently: its variables are gone. "+
			"restart_kernel starts a fresh kernel (then re-run your setup code), shutdown_session ends the session (%v)", id, err)
	case errors.Is(err, kernel.ErrKernelRestarted):
		return fmt.Errorf("the kernel of session %s restarted during this call (it crashed, e.g. out of memory, or was restarted): "+
			"its variables are gone; re-run your setup code before continuing (%v)", id, err)
	case errors.Is(err, kernel.ErrInterruptFailed):
		return fmt.Errorf("session %s: the cell did not stop when interrupted (native code can ignore interrupts): "+
			"restart_kernel stops it, losing the kernel's variables (%v)", id, err)
	case errors.Is(err, session.ErrBusy), errors.Is(err, core.ErrInvalidConfig), errors.Is(err, core.ErrUnsupported):
		return err // already says what to do
	}
	if strings.HasPrefix(err.Error(), "session "+id) {
		return err
	}
	return fmt.Errorf("session %s: %w", id, err)
}

// redact removes a secret (a Jupyter token from a URL the agent gave) from
// an error before it is shown anywhere.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[token]"))
}
