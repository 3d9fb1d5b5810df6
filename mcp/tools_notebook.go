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
	"github.com/sena-labs/sena/core/session"
)

// ExecuteInput is execute_code's arguments.
type ExecuteInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id from start_session, attach_to_session or list_sessions"`
	Code      string  `json:"code" jsonschema:"Python to run in the kernel (a shell command in cli sessions); variables persist between calls"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted and the partial output returned (the kernel and its variables survive); default 600"`
}

// EditInput is edit_cell's arguments.
type EditInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id"`
	Code      string  `json:"code" jsonschema:"the cell's new source, run again at once in the current kernel state"`
	CellIndex *int    `json:"cell_index,omitempty" jsonschema:"which code cell: counts code cells only (markdown cells are skipped), 0 is the first, negative counts from the end; default -1 (the last code cell)"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds before the kernel is interrupted, as in execute_code; default 600"`
}

// MarkdownInput is add_markdown's arguments.
type MarkdownInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id"`
	Content   string `json:"content" jsonschema:"Markdown text: hypotheses, findings, what the next cells do"`
}

// MarkdownResult is add_markdown's result.
type MarkdownResult struct {
	CellNumber   int    `json:"cell_number" jsonschema:"the new cell's index in the notebook, counting every cell"`
	NotebookPath string `json:"notebook_path"`
}

func (s *Server) addNotebookTools() {
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "execute_code", Description: "Run code in the session's kernel and append it, with its outputs, as a new notebook cell. " +
		"Returns a status line ([ok], [error: EName] or [interrupted after Ns], the execution count, the cell's index), then the outputs: " +
		"text (ANSI codes stripped, long text cut in the middle; the notebook keeps it all) and up to 4 images. " +
		"An exception in your code is a normal result with status error. Calls on one session run one at a time, in order."}, s.execute)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "edit_cell", Description: "Replace the source of an existing code cell, clear its outputs and run it again in the current kernel state " +
		"(earlier cells are not re-run). cell_index counts code cells only: 0 is the first code cell, -1 the last. Returns what execute_code returns."}, s.edit)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "add_markdown", Description: "Append a markdown cell to the session's notebook, to document the experiment for the researcher."}, s.addMarkdown)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "get_notebook_outputs", Description: "Read back the session's notebook: each cell's index, type, source and outputs, within the same text budget as execute_code " +
		"(when a range does not fit, the result says where to continue). Use it to recover context after a restart; it also works after the session is shut down."}, s.outputs)
}

func (s *Server) execute(ctx context.Context, req *sdk.CallToolRequest, in ExecuteInput) (*sdk.CallToolResult, any, error) {
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		return live.Execute(ctx, in.Code, opts)
	})
}

func (s *Server) edit(ctx context.Context, req *sdk.CallToolRequest, in EditInput) (*sdk.CallToolResult, any, error) {
	idx := -1
	if in.CellIndex != nil {
		idx = *in.CellIndex
	}
	return s.run(ctx, req, in.SessionID, in.Timeout, func(live *session.Session, opts *session.ExecOptions) (*session.Execution, error) {
		return live.EditCell(ctx, idx, in.Code, opts)
	})
}

// run executes a cell and renders the outcome for the agent.
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
		return nil, nil, agentError(id, err)
	}
	var outputs atomic.Int64
	stop := keepalive(ctx, req, s.opts.ProgressEvery, func(d time.Duration) string {
		return fmt.Sprintf("running for %s, %d outputs so far", d.Round(time.Second), outputs.Load())
	})
	start := time.Now()
	ex, err := exec(live, &session.ExecOptions{Timeout: timeout, OnEvent: func(kernel.Event) { outputs.Add(1) }})
	elapsed := time.Since(start)
	stop()
	if err != nil {
		if errors.Is(err, kernel.ErrConnection) {
			s.pool.forget(id) // attach afresh next time
		}
		err = agentError(id, err)
		if ex == nil || ex.Cell == nil {
			return nil, nil, err
		}
		// The kernel failed mid-cell: say so, with what it printed first.
		res := s.renderExecution(live, ex, elapsed)
		res.Content[0] = &sdk.TextContent{Text: err.Error() + "\n" + res.Content[0].(*sdk.TextContent).Text}
		res.IsError = true
		return res, nil, nil
	}
	return s.renderExecution(live, ex, elapsed), nil, nil
}

func (s *Server) renderExecution(live *session.Session, ex *session.Execution, elapsed time.Duration) *sdk.CallToolResult {
	path := s.m.Store().NotebookPath(live.ID)
	where := fmt.Sprintf("cell %d of %s", ex.CellIndex, path)
	r := &renderer{maxImages: s.opts.MaxImages, maxEdge: s.opts.MaxImageEdge, images: true, skipError: live.IsExitStatus}
	text := clip(r.outputs(ex.Cell.Outputs, where), s.opts.TextBudget, where)
	return &sdk.CallToolResult{Content: r.content(statusLine(live, ex, elapsed, path) + "\n" + text)}
}

// statusLine says how the cell ended and where it is.
func statusLine(live *session.Session, ex *session.Execution, elapsed time.Duration, path string) string {
	var b strings.Builder
	res := ex.Result
	switch {
	case res == nil:
		b.WriteString("[failed]")
	case res.Interrupted:
		fmt.Fprintf(&b, "[interrupted after %s: the kernel and its variables are kept]", elapsed.Round(100*time.Millisecond))
	case res.Status == "ok":
		b.WriteString("[ok]")
	case live.IsExitStatus(res.EName):
		fmt.Fprintf(&b, "[error: exit status %d]", ex.ExitCode)
	case res.EName != "":
		fmt.Fprintf(&b, "[error: %s]", res.EName)
	default:
		fmt.Fprintf(&b, "[%s]", res.Status)
	}
	if res != nil && res.ExecutionCount > 0 {
		fmt.Fprintf(&b, " execution_count=%d", res.ExecutionCount)
	}
	fmt.Fprintf(&b, " cell %d of %s", ex.CellIndex, path)
	return b.String()
}

func (s *Server) addMarkdown(ctx context.Context, _ *sdk.CallToolRequest, in MarkdownInput) (*sdk.CallToolResult, *MarkdownResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	n, err := live.AddMarkdown(ctx, in.Content)
	if err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	return nil, &MarkdownResult{CellNumber: n, NotebookPath: s.m.Store().NotebookPath(in.SessionID)}, nil
}
