package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
)

// Session is a live connection to a session's kernel. Every operation takes
// the session's cross-process lock, reloads the notebook from the host
// mirror, changes it, and saves it to the mirror and the sandbox, so CLI and
// MCP callers in different processes queue up and never lose a cell.
type Session struct {
	*Record
	store *Store
	srv   *kernel.Server

	mu sync.Mutex // guards k, which a kernel restart replaces
	k  *kernel.Kernel

	// whyStopped asks the provider, after the kernel's connection dropped,
	// whether the sandbox stopped and why ("" while it still runs).
	whyStopped func(context.Context) string
}

// kernel is the current kernel connection.
func (s *Session) kernel() *kernel.Kernel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.k
}

// refresh replaces the kernel connection after the kernel restarted or the
// socket dropped: a new websocket makes the server nudge the kernel until
// its output channel is connected, where the old one may lose the next
// cell's output. Best effort: if the kernel is gone, the next call says so.
func (s *Session) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	k, err := s.srv.Connect(ctx, s.KernelID)
	if err != nil {
		return
	}
	s.mu.Lock()
	old := s.k
	s.k = k
	s.mu.Unlock()
	old.Close()
}

// Attach connects to a ready session's kernel.
func (m *Manager) Attach(ctx context.Context, id string) (*Session, error) {
	rec, err := m.store.Get(id)
	if err != nil {
		return nil, err
	}
	if rec.State != StateReady {
		return nil, core.Errorf(core.ErrInvalidConfig, "session %s is still %s: wait for `sena up` to finish, or `sena down %s`", id, rec.State, id)
	}
	token, err := m.store.Token(id)
	if err != nil {
		return nil, err
	}
	srv, err := kernel.NewServer(rec.Endpoint.URL, token)
	if err != nil {
		return nil, err
	}
	k, err := srv.Connect(ctx, rec.KernelID)
	if err != nil {
		if errors.Is(err, kernel.ErrKernelNotFound) || errors.Is(err, kernel.ErrConnection) {
			return nil, fmt.Errorf("session %s: its kernel cannot be reached (the sandbox may have stopped or timed out; `sena ls` shows its status, `sena down %s` cleans up): %w", id, id, err)
		}
		return nil, err
	}
	return &Session{Record: rec, store: m.store, srv: srv, k: k, whyStopped: m.whyStopped(rec)}, nil
}

// stopWait is how long whyStopped waits for a sandbox whose kernel
// connection dropped to stop: `timeout` gives jupyter_server a few seconds
// to shut its kernels down before the container exits.
const stopWait = 20 * time.Second

// whyStopped returns a func that reports why rec's sandbox stopped, waiting
// up to stopWait for it to stop; "" when it still runs or cannot be asked.
func (m *Manager) whyStopped(rec *Record) func(context.Context) string {
	return func(ctx context.Context) string {
		if rec.Handle.ID == "" {
			return ""
		}
		ctx, cancel := context.WithTimeout(ctx, stopWait+10*time.Second)
		defer cancel()
		prov, release, err := m.providers.Open(ctx, rec.Provider, passEnvOf(&rec.Config))
		if err != nil {
			return ""
		}
		defer release()
		deadline := time.Now().Add(stopWait)
		for {
			resp, err := prov.Inspect(ctx, &core.InspectRequest{Handle: rec.Handle})
			switch {
			case errors.Is(err, core.ErrNotFound):
				return "its sandbox was removed"
			case err == nil && resp.Status == core.StatusStopped:
				if resp.StopReason != "" {
					return resp.StopReason
				}
				return "its sandbox stopped"
			}
			if time.Now().After(deadline) {
				return ""
			}
			select {
			case <-ctx.Done():
				return ""
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

// markCutShort records, as the cell's last output, an error saying what
// stopped it: a cell cut off by its sandbox's end or its kernel's death
// must not look as if it ran to completion. It returns the reason, "" when
// nothing is known to have stopped it.
func (s *Session) markCutShort(ctx context.Context, nb *notebook.Notebook, cell *notebook.Cell, execErr error) string {
	var ename, evalue string
	switch {
	case errors.Is(execErr, kernel.ErrConnection), errors.Is(execErr, kernel.ErrKernelDead):
		if s.whyStopped == nil {
			return ""
		}
		reason := s.whyStopped(ctx)
		if reason == "" {
			return ""
		}
		ename, evalue = "SandboxStopped", "the sandbox stopped while this cell ran: "+reason
	case errors.Is(execErr, kernel.ErrKernelRestarted):
		ename, evalue = "KernelRestarted", "the kernel died while this cell ran (out of memory, or a crash in native code) and was restarted: its variables are gone"
	default:
		return ""
	}
	content, _ := json.Marshal(map[string]any{"ename": ename, "evalue": evalue, "traceback": []string{ename + ": " + evalue}})
	_ = nb.Apply(cell, "error", content)
	return evalue
}

// Close drops the kernel connection; the kernel keeps running.
func (s *Session) Close() error { return s.kernel().Close() }

// ExecOptions tune one execution.
type ExecOptions struct {
	// OnEvent sees each kernel output event as it arrives.
	OnEvent func(kernel.Event)
	// Timeout interrupts the kernel when it passes (0: none beyond ctx).
	Timeout time.Duration
}

// Execution is the outcome of running one cell.
type Execution struct {
	Result    *kernel.ExecuteResult
	Cell      *notebook.Cell
	CellIndex int // position in the notebook, counting every cell
	// ExitCode is the shell command's exit status in CLI sessions.
	ExitCode int
}

// Execute runs code (a shell command in CLI sessions) and appends it, with
// its outputs, to the notebook.
func (s *Session) Execute(ctx context.Context, code string, opts *ExecOptions) (*Execution, error) {
	return s.run(ctx, opts, func(nb *notebook.Notebook) (*notebook.Cell, error) {
		return nb.AddCode(s.cellSource(code)), nil
	}, code)
}

// EditCell replaces the source of the code cell at codeIndex (counting code
// cells only; negative counts from the end), clears its outputs and runs it again.
func (s *Session) EditCell(ctx context.Context, codeIndex int, code string, opts *ExecOptions) (*Execution, error) {
	return s.run(ctx, opts, func(nb *notebook.Notebook) (*notebook.Cell, error) {
		c, _, err := nb.CodeCellIndex(codeIndex)
		if err != nil {
			return nil, core.Errorf(core.ErrInvalidConfig, "%v", err)
		}
		c.Source = s.cellSource(code)
		c.ClearOutputs()
		return c, nil
	}, code)
}

func (s *Session) run(ctx context.Context, opts *ExecOptions, pick func(*notebook.Notebook) (*notebook.Cell, error), code string) (*Execution, error) {
	if opts == nil {
		opts = &ExecOptions{}
	}
	unlock, err := s.store.Lock(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	nb, err := s.loadNotebook()
	if err != nil {
		return nil, err
	}
	cell, err := pick(nb)
	if err != nil {
		return nil, err
	}
	if err := nb.WriteFile(s.store.NotebookPath(s.ID)); err != nil {
		return nil, err
	}
	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	saver := newThrottledSaver(nb, s.store.NotebookPath(s.ID))
	res, execErr := s.kernel().Execute(runCtx, s.kernelCode(code), &kernel.ExecuteOptions{
		StoreHistory: true,
		OnEvent: func(ev kernel.Event) {
			_ = nb.Apply(cell, ev.Type, ev.Content)
			saver.changed()
			if opts.OnEvent != nil {
				opts.OnEvent(ev)
			}
		},
	})
	if res != nil && res.ExecutionCount > 0 {
		cell.SetExecutionCount(res.ExecutionCount)
	}
	if reason := s.markCutShort(context.WithoutCancel(ctx), nb, cell, execErr); reason != "" {
		execErr = fmt.Errorf("session %s: %s: %w", s.ID, reason, execErr)
	}
	if errors.Is(execErr, kernel.ErrKernelRestarted) || errors.Is(execErr, kernel.ErrConnection) {
		s.refresh(context.WithoutCancel(ctx))
	}
	if err := s.save(context.WithoutCancel(ctx), nb); err != nil && execErr == nil {
		execErr = err
	}
	ex := &Execution{Result: res, Cell: cell, CellIndex: indexOf(nb, cell)}
	if execErr == nil {
		ex.ExitCode = s.exitCode(res)
	}
	return ex, execErr
}

// AddMarkdown appends a markdown cell and returns its notebook index.
func (s *Session) AddMarkdown(ctx context.Context, text string) (int, error) {
	unlock, err := s.store.Lock(ctx, s.ID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	nb, err := s.loadNotebook()
	if err != nil {
		return 0, err
	}
	c := nb.AddMarkdown(text)
	if err := s.save(ctx, nb); err != nil {
		return 0, err
	}
	return indexOf(nb, c), nil
}

// Notebook reads the session's notebook as last saved.
func (s *Session) Notebook() (*notebook.Notebook, error) { return s.loadNotebook() }

// Interrupt interrupts the running cell, if any.
func (s *Session) Interrupt(ctx context.Context) error { return s.kernel().Interrupt(ctx) }

// Restart restarts the kernel: its state is lost, the notebook is kept.
func (s *Session) Restart(ctx context.Context) error {
	if err := s.kernel().Restart(ctx); err != nil {
		return err
	}
	s.refresh(ctx)
	return setupKernel(ctx, s.kernel(), s.Skills)
}

func (s *Session) loadNotebook() (*notebook.Notebook, error) {
	nb, err := notebook.ReadFile(s.store.NotebookPath(s.ID))
	if err != nil {
		return nil, fmt.Errorf("read the notebook of session %s: %w", s.ID, err)
	}
	return nb, nil
}

func indexOf(nb *notebook.Notebook, c *notebook.Cell) int {
	for i, x := range nb.Cells {
		if x == c {
			return i
		}
	}
	return -1
}

// cellSource is what the notebook shows: in CLI sessions a %%sh cell, which
// re-runs the same command when the notebook is opened in Jupyter.
func (s *Session) cellSource(code string) string {
	if s.Mode == core.ModeCLI {
		return "%%sh\n" + code
	}
	return code
}

// kernelCode is what the kernel runs. Shell commands go through a small
// runner that streams both pipes and reports a failing exit status as
// SystemExit, which IPython shows as one short line, not a traceback.
func (s *Session) kernelCode(code string) string {
	if s.Mode != core.ModeCLI {
		return code
	}
	return fmt.Sprintf(shellRunner, strconv.Quote(code))
}

const shellRunner = `def __sena_sh(cmd):
    import subprocess, sys, threading, warnings
    warnings.filterwarnings("ignore", message="To exit: use")
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    def pump(src, dst):
        for line in iter(src.readline, b""):
            dst.write(line.decode(errors="replace")); dst.flush()
    t = threading.Thread(target=pump, args=(p.stderr, sys.stderr)); t.start()
    pump(p.stdout, sys.stdout); t.join()
    rc = p.wait()
    if rc != 0:
        raise SystemExit(rc if rc > 0 else 128 - rc)
__sena_sh(%s)
del __sena_sh`

// exitCode maps a result to an exit status: the shell command's own in CLI
// sessions, 1 for any other error.
func (s *Session) exitCode(res *kernel.ExecuteResult) int {
	if res == nil || res.Status == "ok" {
		return 0
	}
	if s.Mode == core.ModeCLI && res.EName == "SystemExit" {
		if n, err := strconv.Atoi(strings.TrimSpace(res.EValue)); err == nil && n > 0 && n < 256 {
			return n
		}
	}
	return 1
}

// IsExitStatus reports whether an error output only carries a CLI
// command's exit status (nothing for a user to read).
func (s *Session) IsExitStatus(ename string) bool {
	return s.Mode == core.ModeCLI && ename == "SystemExit"
}
