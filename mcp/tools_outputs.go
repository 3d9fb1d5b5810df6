package mcp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/notebook"
)

// OutputsInput is get_notebook_outputs' arguments.
type OutputsInput struct {
	SessionID     string `json:"session_id" jsonschema:"the session id (also of a session already shut down: its notebook is kept)"`
	Start         *int   `json:"start,omitempty" jsonschema:"first cell, as a notebook index counting every cell (markdown too); negative counts from the end; default 0"`
	End           *int   `json:"end,omitempty" jsonschema:"cell to stop before (exclusive), counting every cell; negative counts from the end; default: the end of the notebook"`
	IncludeImages bool   `json:"include_images,omitempty" jsonschema:"attach the cells' PNG and JPEG images (at most 4 per call); default false: images are only named"`
}

func (s *Server) outputs(ctx context.Context, _ *sdk.CallToolRequest, in OutputsInput) (*sdk.CallToolResult, any, error) {
	path := s.m.Store().NotebookPath(in.SessionID)
	if _, err := s.m.NotebookFile(in.SessionID); err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	nb, err := notebook.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, agentError(in.SessionID, core.ErrNotFound)
		}
		return nil, nil, agentError(in.SessionID, err)
	}
	n := len(nb.Cells)
	start, end := resolve(in.Start, 0, n), resolve(in.End, n, n)
	if start < 0 || start > n || end < start || end > n {
		return nil, nil, fmt.Errorf("cells %s to %s are out of range: the notebook has %d cells (indexes 0 to %d, negative from the end; end is exclusive)",
			show(in.Start), show(in.End), n, n-1)
	}
	skipError := func(string) bool { return false }
	if live, ok := s.pool.attached()[in.SessionID]; ok {
		skipError = live.IsExitStatus
	}
	r := &renderer{maxImages: s.opts.MaxImages, maxEdge: s.opts.MaxImageEdge, images: in.IncludeImages, skipError: skipError}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: cells %d to %d of %d\n", path, start, end-1, n)
	code := codeIndexes(nb)
	for i := start; i < end; i++ {
		cell := renderCell(r, nb.Cells[i], i, code[i], path, s.opts.TextBudget/4)
		if b.Len()+len(cell) > s.opts.TextBudget && i > start {
			fmt.Fprintf(&b, "\n[cells %d to %d not shown, to stay within the text budget: call get_notebook_outputs with start=%d]\n", i, end-1, i)
			break
		}
		b.WriteString(cell)
	}
	return &sdk.CallToolResult{Content: r.content(b.String())}, nil, nil
}

// renderCell shows one cell: a header, its source, and its outputs, each
// part clipped to budget.
func renderCell(r *renderer, c *notebook.Cell, i, codeIndex int, path string, budget int) string {
	where := fmt.Sprintf("cell %d of %s", i, path)
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- cell %d · %s", i, c.Type)
	if c.Type == notebook.CodeCell {
		fmt.Fprintf(&b, " · code cell %d", codeIndex)
		if c.ExecutionCount != nil {
			fmt.Fprintf(&b, " · execution_count=%d", *c.ExecutionCount)
		}
	}
	b.WriteString(" ---\n")
	b.WriteString(clip(c.Source, budget, where))
	if c.Type == notebook.CodeCell && len(c.Outputs) > 0 {
		b.WriteString("\n--- output ---\n")
		b.WriteString(clip(r.outputs(c.Outputs, where), budget, where))
	}
	b.WriteString("\n")
	return b.String()
}

// codeIndexes maps notebook indexes of code cells to their code-cell index,
// the index edit_cell takes.
func codeIndexes(nb *notebook.Notebook) map[int]int {
	m := map[int]int{}
	for i, c := range nb.Cells {
		if c.Type == notebook.CodeCell {
			m[i] = len(m)
		}
	}
	return m
}

// resolve turns an optional slice bound into an index (negative counts from the end).
func resolve(v *int, def, n int) int {
	if v == nil {
		return def
	}
	if *v < 0 {
		return *v + n
	}
	return *v
}

func show(v *int) string {
	if v == nil {
		return "(default)"
	}
	return fmt.Sprint(*v)
}
