package mcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/session"
)

// ExecuteInput is execute_code's arguments.
type ExecuteInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id from start_session, attach_to_session or list_sessions"`
	Code      string  `json:"code" jsonschema:"Python to run in the kernel (a shell command in cli sessions); variables persist between calls"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted and the partial output returned (the kernel and its variables survive); default 600"`
	Hidden    bool    `json:"hidden,omitempty" jsonschema:"run without recording: no cell in the notebook and no kernel history (for checks that would clutter the experiment's record); long output is cut and cannot be paged with read_output"`
}

// EditInput is edit_cell's arguments.
type EditInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Cell      CellRef `json:"cell" jsonschema:"the cell to change: its id (a string, as results print it) or its index among all cells, markdown included (an integer; negative counts from the end)"`
	Source    string  `json:"source" jsonschema:"the cell's new source (code, or markdown for a markdown cell)"`
	Run       *bool   `json:"run,omitempty" jsonschema:"run a code cell at once after the change, in the current kernel state; default true (markdown cells never run)"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted, as in execute_code; default 600"`
}

// InsertInput is insert_cell's arguments.
type InsertInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Source    string  `json:"source" jsonschema:"the new cell's source"`
	CellType  string  `json:"cell_type,omitempty" jsonschema:"code (default) or markdown"`
	Before    CellRef `json:"before,omitempty" jsonschema:"put it just before this cell (id or index among all cells)"`
	After     CellRef `json:"after,omitempty" jsonschema:"put it just after this cell (id or index); with neither before nor after it goes at the end"`
	Run       bool    `json:"run,omitempty" jsonschema:"run the new code cell at once; default false (run_cell runs it later)"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted, when run; default 600"`
}

// CellInput names one cell.
type CellInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Cell      CellRef `json:"cell" jsonschema:"a cell: its id (a string, as results print it) or its index among all cells, markdown included (an integer; negative counts from the end)"`
}

// RunInput is run_cell's arguments.
type RunInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Cell      CellRef `json:"cell" jsonschema:"the code cell to run again: its id or its index among all cells (negative from the end)"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted; default 600"`
}

// MoveInput is move_cell's arguments.
type MoveInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Cell      CellRef `json:"cell" jsonschema:"the cell to move: its id or its index among all cells"`
	Before    CellRef `json:"before,omitempty" jsonschema:"move it just before this cell (id or index)"`
	After     CellRef `json:"after,omitempty" jsonschema:"move it just after this cell (id or index); give before or after"`
}

// MarkdownInput is add_markdown's arguments.
type MarkdownInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Content   string `json:"content" jsonschema:"Markdown text: hypotheses, findings, what the next cells do"`
}

// MarkdownResult is add_markdown's result.
type MarkdownResult struct {
	CellNumber   int    `json:"cell_number" jsonschema:"the new cell's index in the notebook, counting every cell"`
	CellID       string `json:"cell_id" jsonschema:"the new cell's id"`
	NotebookPath string `json:"notebook_path"`
}

func (s *Server) addNotebookTools() {
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "execute_code", Description: "Run code in the session's kernel and append it, with its outputs, as a new notebook cell. " +
		"Returns a status line ([ok], [error: EName], [interrupted after Ns] or [kernel died], the cell's index and id, the execution count, the time it took), then the outputs: " +
		"text (ANSI codes stripped, long text cut in the middle with a read_output call that pages through the rest) and up to 4 images. " +
		"An exception in your code is a normal result with status error. Calls on one session run one at a time, in order."}, s.execute)
	addTool(s, &sdk.Tool{Name: "edit_cell", Description: "Replace a cell's source. A code cell's outputs are cleared and, unless run=false, it runs again at once in the current kernel state " +
		"(earlier cells are not re-run); a markdown cell just takes the new text. Use it to fix the cell an error came from, by the id or index its status line gave. " +
		"Returns what execute_code returns."}, s.edit)
	addTool(s, &sdk.Tool{Name: "insert_cell", Description: "Insert a code or markdown cell before or after another cell (or at the end), optionally running it at once: " +
		"for a missing import or setup step above the cell that needs it."}, s.insertCell)
	addTool(s, &sdk.Tool{Name: "delete_cell", Description: "Delete a cell from the notebook (its effects on the kernel's state stay)."}, s.deleteCell)
	addTool(s, &sdk.Tool{Name: "move_cell", Description: "Move a cell before or after another cell, so the notebook reads in the order it should run."}, s.moveCell)
	addTool(s, &sdk.Tool{Name: "run_cell", Description: "Run an existing code cell again, in place and in the current kernel state; its outputs are replaced. Returns what execute_code returns."}, s.runCell)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "add_markdown", Description: "Append a markdown cell to the session's notebook, to document the experiment for the researcher."}, s.addMarkdown)
	s.addOutputTools()
}

func (s *Server) execute(ctx context.Context, req *sdk.CallToolRequest, in ExecuteInput) (*sdk.CallToolResult, any, error) {
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		opts.Hidden = in.Hidden
		return live.Execute(ctx, in.Code, opts)
	})
}

func (s *Server) edit(ctx context.Context, req *sdk.CallToolRequest, in EditInput) (*sdk.CallToolResult, any, error) {
	run := in.Run == nil || *in.Run
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		return live.EditCell(ctx, in.Cell.ref, in.Source, run, opts)
	})
}

func (s *Server) insertCell(ctx context.Context, req *sdk.CallToolRequest, in InsertInput) (*sdk.CallToolResult, any, error) {
	typ := in.CellType
	if typ == "" {
		typ = notebook.CodeCell
	}
	pos := session.CellPosition{Before: in.Before.ptr(), After: in.After.ptr()}
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		return live.InsertCell(ctx, typ, in.Source, pos, in.Run, opts)
	})
}

func (s *Server) runCell(ctx context.Context, req *sdk.CallToolRequest, in RunInput) (*sdk.CallToolResult, any, error) {
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		return live.RunCell(ctx, in.Cell.ref, opts)
	})
}

func (s *Server) deleteCell(ctx context.Context, _ *sdk.CallToolRequest, in CellInput) (*sdk.CallToolResult, any, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	c, i, err := live.DeleteCell(ctx, in.Cell.ref)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return textResult(fmt.Sprintf("[deleted] %s, a %s cell: the cells after it moved up by one%s", cellName(c, i), c.Type, effectsNote(c))), nil, nil
}

func effectsNote(c *notebook.Cell) string {
	if c.Type == notebook.CodeCell && c.ExecutionCount != nil {
		return " (what it did to the kernel's variables stays)"
	}
	return ""
}

func (s *Server) moveCell(ctx context.Context, _ *sdk.CallToolRequest, in MoveInput) (*sdk.CallToolResult, any, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	c, from, to, err := live.MoveCell(ctx, in.Cell.ref, session.CellPosition{Before: in.Before.ptr(), After: in.After.ptr()})
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return textResult(fmt.Sprintf("[moved] cell %s (%s) from index %d to index %d", c.ID, c.Type, from, to)), nil, nil
}

// run runs a cell operation and renders the outcome for the agent.
func (s *Server) run(ctx context.Context, req *sdk.CallToolRequest, id string, timeoutSecs float64,
	exec func(*session.Session, *session.ExecOptions) (*session.Execution, error)) (*sdk.CallToolResult, any, error) {
	if timeoutSecs < 0 {
		return nil, nil, errors.New("timeout must be a positive number of seconds")
	}
	timeout := s.opts.ExecTimeout
	if timeoutSecs > 0 {
		timeout = time.Duration(timeoutSecs * float64(time.Second))
	}
	live, err := s.pool.get(ctx, id)
	if err != nil {
		return nil, nil, s.agentError(id, err)
	}
	notice := live.Notice(ctx)
	var outputs atomic.Int64
	stop := keepalive(ctx, req, s.opts.ProgressEvery, func(d time.Duration) string {
		return fmt.Sprintf("running for %s, %d outputs so far", d.Round(time.Second), outputs.Load())
	})
	ex, err := exec(live, &session.ExecOptions{Timeout: timeout, OnEvent: func(kernel.Event) { outputs.Add(1) }})
	stop()
	if ex != nil && ex.Died != "" {
		// Written into the cell and the status line: a result, like an exception.
		return s.renderExecution(live, ex, notice), nil, nil
	}
	if err != nil {
		if errors.Is(err, kernel.ErrConnection) {
			s.pool.forget(id) // attach afresh next time
		}
		err = s.agentError(id, err)
		if ex == nil || ex.Cell == nil {
			if notice != "" {
				err = fmt.Errorf("%w\n[note: %s]", err, notice)
			}
			return nil, nil, err
		}
		// The kernel failed mid-cell: say so, with what it printed first.
		res := s.renderExecution(live, ex, notice)
		res.Content[0] = &sdk.TextContent{Text: err.Error() + "\n" + res.Content[0].(*sdk.TextContent).Text}
		res.IsError = true
		return res, nil, nil
	}
	return s.renderExecution(live, ex, notice), nil, nil
}

func (s *Server) renderExecution(live *session.Session, ex *session.Execution, notice string) *sdk.CallToolResult {
	r := &renderer{maxImages: s.opts.MaxImages, maxEdge: s.opts.MaxImageEdge, images: true, skipError: live.IsExitStatus}
	var b strings.Builder
	if notice != "" {
		b.WriteString("[note: " + notice + "]\n")
	}
	b.WriteString(statusLine(live, ex))
	b.WriteByte('\n')
	if ex.Result != nil || ex.Died != "" {
		b.WriteString(clipOutputs(r.outputs(ex.Cell), s.opts.TextBudget, ex.Cell.ID))
	}
	return &sdk.CallToolResult{Content: r.content(b.String())}
}

// cellName names a cell both ways: its index among all cells and its id.
func cellName(c *notebook.Cell, i int) string {
	return fmt.Sprintf("cell %d (id %s)", i, c.ID)
}

// statusLine says how the cell ended, which cell it is, and how long it took.
func statusLine(live *session.Session, ex *session.Execution) string {
	var b strings.Builder
	res := ex.Result
	took := ex.Elapsed.Round(10 * time.Millisecond)
	switch {
	case ex.Died != "":
		b.WriteString("[kernel died: its variables are gone]")
	case res == nil && ex.Cell.Type != notebook.CodeCell:
		fmt.Fprintf(&b, "[%s cell saved]", ex.Cell.Type)
	case res == nil:
		b.WriteString("[saved, not run: run_cell runs it]")
	case res.Interrupted:
		fmt.Fprintf(&b, "[interrupted after %s: the kernel and its variables are kept]", ex.Elapsed.Round(100*time.Millisecond))
	case res.Status == "ok":
		b.WriteString("[ok]")
	case live.IsExitStatus(res.EName):
		fmt.Fprintf(&b, "[error: exit status %d]", ex.ExitCode)
	case res.EName != "":
		fmt.Fprintf(&b, "[error: %s]", res.EName)
	default:
		fmt.Fprintf(&b, "[%s]", res.Status)
	}
	if ex.CellIndex < 0 {
		b.WriteString(" (hidden: not recorded in the notebook)")
	} else {
		b.WriteString(" " + cellName(ex.Cell, ex.CellIndex))
	}
	if res != nil && res.ExecutionCount > 0 {
		fmt.Fprintf(&b, " · execution_count=%d", res.ExecutionCount)
	}
	if res != nil || ex.Died != "" {
		fmt.Fprintf(&b, " · %s", took)
	}
	return b.String()
}

func (s *Server) addMarkdown(ctx context.Context, _ *sdk.CallToolRequest, in MarkdownInput) (*sdk.CallToolResult, *MarkdownResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	ex, err := live.InsertCell(ctx, notebook.MarkdownCell, in.Content, session.CellPosition{}, false, nil)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	return structured(&MarkdownResult{CellNumber: ex.CellIndex, CellID: ex.Cell.ID, NotebookPath: s.m.Store().NotebookPath(in.SessionID)})
}

func textResult(text string) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
}
