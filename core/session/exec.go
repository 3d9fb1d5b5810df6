package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
)

// Session is a live connection to a session's kernel. Every operation that
// changes the notebook takes the session's cross-process lock, reloads the
// notebook from the host mirror, changes it, and saves it to the mirror and
// the sandbox, so CLI and MCP callers in different processes queue up and
// never lose a cell.
type Session struct {
	*Record
	store *Store
	srv   *kernel.Server

	mu           sync.Mutex // guards k, seenRestarts and notice
	k            *kernel.Kernel
	seenRestarts int    // k.Restarts() when last checked
	notice       string // for TakeNotice: the kernel restarted since the last call

	restarting atomic.Bool // Restart is under way: a cell failing now was restarted on request

	// whyStopped asks the provider, after the kernel's connection dropped,
	// whether the sandbox stopped and why ("" while it still runs), waiting
	// up to the given time for it to stop.
	whyStopped func(context.Context, time.Duration) string
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
	s.k, s.seenRestarts = k, 0
	s.mu.Unlock()
	old.Close()
	s.kernelIdentity(ctx) // the restart is known here: later processes need not be told
}

// kernelIdentity asks the kernel which process it is, records that as the
// one this session's callers have seen, and returns the one recorded
// before ("" when none was, or the kernel did not answer in time: a cell
// may be running, and then nothing is compared).
func (s *Session) kernelIdentity(ctx context.Context) (now, before string) {
	// Generous: a kernel Jupyter is still restarting answers late, and a
	// cell Sena runs holds the session's lock, which this caller would wait
	// for anyway.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ki, err := s.kernel().Info(ctx)
	if err != nil || ki.Session == "" {
		return "", ""
	}
	before = s.store.KernelIdentity(s.ID)
	_ = s.store.SetKernelIdentity(s.ID, ki.Session)
	return ki.Session, before
}

// Notice returns, once, what a caller must know before trusting the
// kernel's state: that it restarted since their last call (it died during
// a call, or while idle, or was restarted from Jupyter) and its variables
// are gone. "" when nothing happened. Call it before an operation: a
// restart during the operation is news for the call after it.
func (s *Session) Notice(ctx context.Context) string {
	// Checking for a restart needs the lock; a running cell holds it, and
	// then only what is already known is told.
	lctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	unlock, err := s.store.Lock(lctx, s.ID)
	cancel()
	if err == nil {
		s.checkKernel(ctx)
		unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.notice
	s.notice = ""
	return n
}

func (s *Session) setNotice(n string) {
	s.mu.Lock()
	s.notice = n
	s.mu.Unlock()
}

// checkKernel notices a restart that happened between calls (the kernel
// died while idle, or someone restarted it in JupyterLab): the connection
// is renewed, the workspace set up again, and the next result says so.
// The caller holds the session lock.
func (s *Session) checkKernel(ctx context.Context) {
	s.mu.Lock()
	n, seen := s.k.Restarts(), s.seenRestarts
	s.seenRestarts = n
	s.mu.Unlock()
	if n <= seen || s.restarting.Load() {
		return
	}
	s.refresh(ctx)
	_ = setupKernel(ctx, s.kernel(), s.Skills)
	s.setNotice("the kernel restarted since the last call (it died while idle, or was restarted from Jupyter): " +
		"it is a fresh process and every variable from earlier cells is gone; re-run the cells that set them up")
}

// Attach connects to a ready session's kernel. id may be a unique prefix.
func (m *Manager) Attach(ctx context.Context, id string) (*Session, error) {
	id, err := m.Resolve(id)
	if err != nil {
		return nil, err
	}
	rec, err := m.store.Get(id)
	if err != nil {
		return nil, err
	}
	switch {
	case rec.State == StateAbandoned || rec.State == StateStarting && !ownerAlive(rec.UpOwner):
		return nil, core.Errorf(core.ErrInvalidConfig, "session %s never became ready: the `sena up` that started it died or failed; `sena gc` removes what it left", id)
	case rec.State != StateReady:
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
	s := &Session{Record: rec, store: m.store, srv: srv, k: k, whyStopped: m.whyStopped(rec)}
	s.noticeRestartSinceLastProcess(ctx)
	return s, nil
}

// noticeRestartSinceLastProcess compares the kernel with the one the last
// process that used the session saw: a kernel that died between two `sena
// exec` calls (or was restarted from JupyterLab) is a fresh process, and
// the caller, the next result and the notebook say so rather than running
// the next cell in it as if nothing happened.
func (s *Session) noticeRestartSinceLastProcess(ctx context.Context) {
	now, before := s.kernelIdentity(ctx)
	if before == "" || now == before {
		return
	}
	_ = setupKernel(ctx, s.kernel(), s.Skills)
	const msg = "the kernel restarted since the last call (it died while idle, or was restarted from Jupyter): " +
		"it is a fresh process and every variable from earlier cells is gone; re-run the cells that set them up"
	s.setNotice(msg)
	if unlock, err := s.store.Lock(ctx, s.ID); err == nil {
		if nb, err := s.loadNotebook(); err == nil {
			nb.AddMarkdown("*Sena: " + msg + ".*")
			_ = s.save(ctx, nb)
		}
		unlock()
	}
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
	// Result is how the kernel ended the cell; nil when the cell was only
	// edited, not run.
	Result    *kernel.ExecuteResult
	Cell      *notebook.Cell
	CellIndex int // position in the notebook, counting every cell
	// ExitCode is the shell command's exit status in CLI sessions.
	ExitCode int
	// Elapsed is how long the cell ran.
	Elapsed time.Duration
	// Died, when not empty, says how the kernel died or was restarted while
	// the cell ran; the cell then ends with a KernelDied error output
	// saying the same, and the error returned wraps ErrKernelRestarted or
	// ErrKernelDead.
	Died string
}

// Execute runs code (a shell command in CLI sessions) and appends it, with
// its outputs, to the notebook.
func (s *Session) Execute(ctx context.Context, code string, opts *ExecOptions) (*Execution, error) {
	if strings.TrimSpace(code) == "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "the code is empty: there is nothing to run")
	}
	if err := checkUTF8(code); err != nil {
		return nil, err
	}
	return s.run(ctx, opts, func(nb *notebook.Notebook) (*notebook.Cell, error) {
		return nb.AddCode(s.cellSource(code)), nil
	})
}

// RunCell runs the code cell ref names again, in place, in the current
// kernel state: its outputs are replaced, its source kept.
func (s *Session) RunCell(ctx context.Context, ref notebook.Ref, opts *ExecOptions) (*Execution, error) {
	return s.run(ctx, opts, func(nb *notebook.Notebook) (*notebook.Cell, error) {
		c, _, err := lookupCode(nb, ref, "run")
		if err != nil {
			return nil, err
		}
		c.ClearOutputs()
		return c, nil
	})
}

// EditCell replaces the source of the cell ref names. A code cell's outputs
// are cleared, and when run is set it runs again at once in the current
// kernel state (earlier cells are not re-run); a markdown or raw cell just
// takes the new text (Execution.Result is nil when nothing ran).
func (s *Session) EditCell(ctx context.Context, ref notebook.Ref, source string, run bool, opts *ExecOptions) (*Execution, error) {
	if err := checkUTF8(source); err != nil {
		return nil, err
	}
	edit := func(nb *notebook.Notebook) (*notebook.Cell, error) {
		c, _, err := nb.Lookup(ref)
		if err != nil {
			return nil, core.Errorf(core.ErrInvalidConfig, "%v", err)
		}
		if c.Type != notebook.CodeCell {
			c.Source = source
			return c, nil
		}
		if run && strings.TrimSpace(source) == "" {
			return nil, core.Errorf(core.ErrInvalidConfig, "the new source is empty: there is nothing to run (delete_cell removes a cell)")
		}
		c.Source = s.cellSource(source)
		c.ClearOutputs()
		if !run {
			c.ExecutionCount = nil // no outputs: never run in this form
		}
		return c, nil
	}
	if run {
		return s.run(ctx, opts, edit)
	}
	var ex *Execution
	err := s.change(ctx, func(nb *notebook.Notebook) error {
		c, err := edit(nb)
		if err == nil {
			ex = &Execution{Cell: c, CellIndex: nb.IndexOf(c)}
		}
		return err
	})
	return ex, err
}

// CellPosition says where InsertCell puts a cell: before or after the cell
// a Ref names, or at the end when neither is set.
type CellPosition struct {
	Before, After *notebook.Ref
}

// InsertCell adds a code or markdown cell at pos. A code cell is run at once
// when run is set; otherwise it waits, without outputs, for RunCell.
func (s *Session) InsertCell(ctx context.Context, cellType, source string, pos CellPosition, run bool, opts *ExecOptions) (*Execution, error) {
	if cellType != notebook.CodeCell && cellType != notebook.MarkdownCell {
		return nil, core.Errorf(core.ErrInvalidConfig, "cell type %q: want code or markdown", cellType)
	}
	if run && cellType != notebook.CodeCell {
		return nil, core.Errorf(core.ErrInvalidConfig, "a markdown cell cannot run: insert it with run=false")
	}
	if err := checkUTF8(source); err != nil {
		return nil, err
	}
	if run && strings.TrimSpace(source) == "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "the code is empty: there is nothing to run")
	}
	place := func(nb *notebook.Notebook) (*notebook.Cell, error) {
		at, err := insertAt(nb, pos)
		if err != nil {
			return nil, err
		}
		c := nb.NewMarkdown(source)
		if cellType == notebook.CodeCell {
			c = nb.NewCode(s.cellSource(source))
		}
		nb.Insert(at, c)
		return c, nil
	}
	if run {
		return s.run(ctx, opts, place)
	}
	var ex *Execution
	err := s.change(ctx, func(nb *notebook.Notebook) error {
		c, err := place(nb)
		if err == nil {
			ex = &Execution{Cell: c, CellIndex: nb.IndexOf(c)}
		}
		return err
	})
	return ex, err
}

func insertAt(nb *notebook.Notebook, pos CellPosition) (int, error) {
	switch {
	case pos.Before != nil && pos.After != nil:
		return 0, core.Errorf(core.ErrInvalidConfig, "give before or after, not both")
	case pos.Before != nil:
		_, i, err := nb.Lookup(*pos.Before)
		if err != nil {
			return 0, core.Errorf(core.ErrInvalidConfig, "before: %v", err)
		}
		return i, nil
	case pos.After != nil:
		_, i, err := nb.Lookup(*pos.After)
		if err != nil {
			return 0, core.Errorf(core.ErrInvalidConfig, "after: %v", err)
		}
		return i + 1, nil
	}
	return len(nb.Cells), nil
}

// DeleteCell removes the cell ref names and returns it with the index it had.
func (s *Session) DeleteCell(ctx context.Context, ref notebook.Ref) (*notebook.Cell, int, error) {
	var cell *notebook.Cell
	var at int
	err := s.change(ctx, func(nb *notebook.Notebook) error {
		c, i, err := nb.Lookup(ref)
		if err != nil {
			return core.Errorf(core.ErrInvalidConfig, "%v", err)
		}
		nb.Delete(i)
		cell, at = c, i
		return nil
	})
	return cell, at, err
}

// MoveCell moves the cell ref names to pos (before or after another cell;
// one of them is required) and returns it with its old and new indexes.
func (s *Session) MoveCell(ctx context.Context, ref notebook.Ref, pos CellPosition) (cell *notebook.Cell, from, to int, err error) {
	if pos.Before == nil && pos.After == nil {
		return nil, 0, 0, core.Errorf(core.ErrInvalidConfig, "say where the cell goes: before or after another cell")
	}
	err = s.change(ctx, func(nb *notebook.Notebook) error {
		c, i, err := nb.Lookup(ref)
		if err != nil {
			return core.Errorf(core.ErrInvalidConfig, "%v", err)
		}
		at, err := insertAt(nb, pos)
		if err != nil {
			return err
		}
		if at > i {
			at-- // the cell leaves its old place first
		}
		nb.Move(i, at)
		cell, from, to = c, i, at
		return nil
	})
	return cell, from, to, err
}

// change applies edit to the notebook under the session's lock and saves
// it; when edit fails nothing is saved, so a bad call never leaves a
// half-edited notebook.
func (s *Session) change(ctx context.Context, edit func(*notebook.Notebook) error) error {
	unlock, err := s.store.Lock(ctx, s.ID)
	if err != nil {
		return err
	}
	defer unlock()
	nb, err := s.loadNotebook()
	if err != nil {
		return err
	}
	if err := edit(nb); err != nil {
		return err
	}
	return s.save(ctx, nb)
}

func lookupCode(nb *notebook.Notebook, ref notebook.Ref, verb string) (*notebook.Cell, int, error) {
	c, i, err := nb.Lookup(ref)
	if err != nil {
		return nil, -1, core.Errorf(core.ErrInvalidConfig, "%v", err)
	}
	if c.Type != notebook.CodeCell {
		return nil, -1, core.Errorf(core.ErrInvalidConfig, "cell %d (id %s) is a %s cell: only code cells %s", i, c.ID, c.Type, verb)
	}
	return c, i, nil
}

// run executes the code cell pick chooses (adding or changing it first) and
// records its outputs; a markdown or raw cell pick returns is only saved.
// If pick fails, the notebook is left as it was.
func (s *Session) run(ctx context.Context, opts *ExecOptions, pick func(*notebook.Notebook) (*notebook.Cell, error)) (*Execution, error) {
	if opts == nil {
		opts = &ExecOptions{}
	}
	unlock, err := s.store.Lock(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.checkKernel(ctx)
	nb, err := s.loadNotebook()
	if err != nil {
		return nil, err
	}
	cell, err := pick(nb)
	if err != nil {
		return nil, err
	}
	if cell.Type != notebook.CodeCell {
		return &Execution{Cell: cell, CellIndex: nb.IndexOf(cell)}, s.save(ctx, nb)
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
	start := time.Now()
	res, execErr := s.kernel().Execute(runCtx, s.kernelCode(s.commandOf(cell)), &kernel.ExecuteOptions{
		StoreHistory: true,
		OnEvent: func(ev kernel.Event) {
			_ = nb.Apply(cell, ev.Type, ev.Content)
			saver.changed()
			if opts.OnEvent != nil {
				opts.OnEvent(ev)
			}
		},
	})
	ex := &Execution{Result: res, Cell: cell, Elapsed: time.Since(start)}
	if res != nil && res.ExecutionCount > 0 {
		cell.SetExecutionCount(res.ExecutionCount)
	}
	stopped := s.sandboxStopped(context.WithoutCancel(ctx), cell, execErr)
	switch {
	case stopped != "":
		execErr = fmt.Errorf("session %s: %s: %w", s.ID, stopped, execErr)
	case errors.Is(execErr, kernel.ErrKernelRestarted) || errors.Is(execErr, kernel.ErrKernelDead):
		ex.Died = s.died(ctx, execErr, cell, ex.Elapsed)
	case errors.Is(execErr, kernel.ErrConnection):
		s.refresh(context.WithoutCancel(ctx))
	}
	if err := s.save(context.WithoutCancel(ctx), nb); err != nil && execErr == nil {
		execErr = err
	}
	ex.CellIndex = nb.IndexOf(cell)
	if execErr == nil {
		ex.ExitCode = s.exitCode(res)
	}
	return ex, execErr
}

// died writes what Sena knows about a kernel that died or was restarted
// while cell ran into the cell, as a KernelDied error output, makes the
// connection and the workspace ready on the new kernel, and leaves a notice
// for the next call. It returns the same words.
func (s *Session) died(ctx context.Context, cause error, cell *notebook.Cell, elapsed time.Duration) string {
	ctx = context.WithoutCancel(ctx)
	after := elapsed.Round(100 * time.Millisecond).String()
	var summary, detail string
	switch {
	case s.restarting.Load():
		summary = fmt.Sprintf("the kernel was restarted on request %s into this cell: it is a fresh process and every variable is gone", after)
	case errors.Is(cause, kernel.ErrKernelDead):
		summary = fmt.Sprintf("the kernel died %s into this cell and could not be started again (%v): restart_kernel starts a fresh one, without the variables", after, cause)
	default:
		summary = fmt.Sprintf("the kernel died %s into this cell; Jupyter restarted it, so it is a fresh process and every variable is gone", after)
		s.refresh(ctx)
		var f struct{ Text, OOM string }
		err := callKernelside(ctx, s.kernel(), "faults", map[string]string{"kernel_id": s.KernelID}, &f, nil)
		switch {
		case err == nil && strings.TrimSpace(f.Text) != "":
			detail = "It died of a fatal error; Python's faulthandler wrote:\n" + strings.TrimSpace(f.Text)
		case err == nil && f.OOM != "":
			detail = "It was killed (SIGKILL): " + f.OOM + "; free memory (del big objects, smaller batches) or ask for a larger sandbox."
		default:
			detail = "No fatal signal was recorded (Python's faulthandler reports crashes such as segfaults) and Linux counted no out-of-memory kill, " +
				"so the process was killed from outside (SIGKILL) or exited on its own (os._exit)."
		}
		_ = setupKernel(ctx, s.kernel(), s.Skills)
	}
	text := summary + "."
	if detail != "" {
		text += "\n" + detail
	}
	if last := lastOutput(cell); last != "" {
		text += "\nIts last output before that: " + last
	}
	cell.Outputs = append(cell.Outputs, &notebook.Output{
		Type: notebook.ErrorOutput, EName: "KernelDied", EValue: summary,
		Traceback: strings.Split("KernelDied: "+text, "\n"),
	})
	s.setNotice(fmt.Sprintf("the kernel restarted during an earlier call (cell %s): it is a fresh process and every variable from earlier cells is gone; "+
		"re-run the cells that set them up", cell.ID))
	return text
}

// Waits for a sandbox to stop once its kernel's connection dropped or its
// kernel died: `timeout` gives jupyter_server a few seconds to shut its
// kernels down before the container exits; a kernel that died alone in a
// running sandbox is told apart quicker.
const (
	stopWaitDropped = 20 * time.Second
	stopWaitDead    = 5 * time.Second
)

// whyStopped returns a func that reports why rec's sandbox stopped, waiting
// up to wait for it to stop; "" when it still runs or cannot be asked.
func (m *Manager) whyStopped(rec *Record) func(context.Context, time.Duration) string {
	return func(ctx context.Context, wait time.Duration) string {
		if rec.Handle.ID == "" {
			return ""
		}
		ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
		defer cancel()
		prov, release, err := m.providers.Open(ctx, rec.Provider, passEnvOf(&rec.Config))
		if err != nil {
			return ""
		}
		defer release()
		deadline := time.Now().Add(wait)
		for {
			resp, err := prov.Inspect(ctx, &core.InspectRequest{Handle: rec.Handle})
			switch {
			case errors.Is(err, core.ErrNotFound):
				return "its sandbox was removed"
			case err == nil && resp.Status == core.StatusStopped:
				if resp.Reason != "" {
					return resp.Reason
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

// sandboxStopped records, as the cell's last output, an error saying what
// stopped the cell when its sandbox ended while it ran (its timeout, a
// kill): such a cell must not look as if it ran to completion. It returns
// the evalue, "" when the sandbox is still running.
func (s *Session) sandboxStopped(ctx context.Context, cell *notebook.Cell, execErr error) string {
	wait := stopWaitDropped
	switch {
	case s.whyStopped == nil:
		return ""
	case errors.Is(execErr, kernel.ErrKernelDead):
		wait = stopWaitDead
	case !errors.Is(execErr, kernel.ErrConnection):
		return ""
	}
	reason := s.whyStopped(ctx, wait)
	if reason == "" {
		return ""
	}
	evalue := "the sandbox stopped while this cell ran: " + reason
	text := evalue + "."
	if last := lastOutput(cell); last != "" {
		text += "\nIts last output before that: " + last
	}
	cell.Outputs = append(cell.Outputs, &notebook.Output{
		Type: notebook.ErrorOutput, EName: "SandboxStopped", EValue: evalue,
		Traceback: strings.Split("SandboxStopped: "+text, "\n"),
	})
	return evalue
}

// lastOutput is the tail of the cell's last output, as a reader would want
// it quoted next to a crash.
func lastOutput(c *notebook.Cell) string {
	if len(c.Outputs) == 0 {
		return ""
	}
	t := strings.TrimSpace(notebook.StripANSI(c.Outputs[len(c.Outputs)-1].PlainText()))
	if r := []rune(t); len(r) > 300 {
		t = "…" + string(r[len(r)-300:])
	}
	return strconv.Quote(t)
}

// AddMarkdown appends a markdown cell and returns its notebook index.
func (s *Session) AddMarkdown(ctx context.Context, text string) (int, error) {
	var at int
	err := s.change(ctx, func(nb *notebook.Notebook) error {
		at = nb.IndexOf(nb.AddMarkdown(text))
		return nil
	})
	return at, err
}

// Notebook reads the session's notebook as last saved.
func (s *Session) Notebook() (*notebook.Notebook, error) { return s.loadNotebook() }

// Interrupt interrupts the running cell, if any.
func (s *Session) Interrupt(ctx context.Context) error { return s.kernel().Interrupt(ctx) }

// Restart restarts the kernel: its state is lost, the notebook is kept. A
// cell running meanwhile ends with a KernelDied output saying so.
func (s *Session) Restart(ctx context.Context) error {
	s.restarting.Store(true)
	defer s.restarting.Store(false)
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

// commandOf is the code a cell runs: its source, without the %%sh line
// cellSource put in CLI sessions.
func (s *Session) commandOf(c *notebook.Cell) string {
	if s.Mode == core.ModeCLI {
		if rest, ok := strings.CutPrefix(c.Source, "%%sh\n"); ok {
			return rest
		}
	}
	return c.Source
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

// checkUTF8 refuses code that is not UTF-8: the kernel protocol is JSON,
// where invalid bytes would be silently replaced, running other code than
// was given.
func checkUTF8(code string) error {
	for i := 0; i < len(code); {
		r, n := utf8.DecodeRuneInString(code[i:])
		if r == utf8.RuneError && n == 1 {
			return core.Errorf(core.ErrInvalidConfig, "the code is not UTF-8: byte %d (0x%02x) is not part of a UTF-8 character; save it as UTF-8", i, code[i])
		}
		i += n
	}
	return nil
}
