package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/notebook"
)

// OutputsInput is get_notebook_outputs' arguments.
type OutputsInput struct {
	SessionID     string `json:"session_id" jsonschema:"the session id (also of a session already shut down: its notebook is kept)"`
	Start         *int   `json:"start,omitempty" jsonschema:"first cell, as an index among all cells (markdown too); negative counts from the end; default 0"`
	End           *int   `json:"end,omitempty" jsonschema:"cell to stop before (exclusive), counting every cell; negative counts from the end; default: the end of the notebook"`
	IncludeImages bool   `json:"include_images,omitempty" jsonschema:"attach the cells' PNG and JPEG images (at most 4 per call); default false: images are only named"`
}

// ReadOutputInput is read_output's arguments.
type ReadOutputInput struct {
	SessionID string  `json:"session_id" jsonschema:"the session id (also of a session already shut down)"`
	Cell      CellRef `json:"cell" jsonschema:"the cell: its id or its index among all cells (negative from the end)"`
	Output    int     `json:"output,omitempty" jsonschema:"which of the cell's outputs, from 0 (as the cut marker says); default 0"`
	Offset    int     `json:"offset,omitempty" jsonschema:"first character to return; default 0"`
	Length    int     `json:"length,omitempty" jsonschema:"characters to return; default and most: the server's text budget (20000 unless set)"`
	MIME      string  `json:"mime,omitempty" jsonschema:"read this MIME type of a rich output (text/html, image/svg+xml, application/json, ...); default: its image, or its text as results show it"`
}

func (s *Server) addOutputTools() {
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "get_notebook_outputs", Description: "Read back the session's notebook: each cell's index, id, type, source and outputs, within the same text budget as execute_code " +
		"(when a range does not fit, the result says where to continue). Use it to recover context after a restart; it also works after the session is shut down."}, s.outputs)
	addTool(s, &sdk.Tool{Name: "read_output", Description: "Read one output of a cell in full, a page at a time: the text a result cut (the cut marker gives cell, output and offset), " +
		"an image by cell and output index, or another MIME type of a rich output (the HTML of a table). Also works after the session is shut down. " +
		"The same outputs are MCP resources: sena://sessions/ID/cells/CELL/outputs/N."}, s.readOutput)
}

// notebookOf reads a session's notebook from the host mirror, which
// outlives the session.
func (s *Server) notebookOf(id string) (*notebook.Notebook, error) {
	if _, err := s.m.NotebookFile(id); err != nil {
		return nil, s.agentError(id, core.ErrNotFound)
	}
	nb, err := notebook.ReadFile(s.m.Store().NotebookPath(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, s.agentError(id, core.ErrNotFound)
		}
		return nil, s.agentError(id, err)
	}
	return nb, nil
}

func (s *Server) outputs(ctx context.Context, _ *sdk.CallToolRequest, in OutputsInput) (*sdk.CallToolResult, any, error) {
	nb, err := s.notebookOf(in.SessionID)
	if err != nil {
		return nil, nil, err
	}
	path := s.m.Store().NotebookPath(in.SessionID)
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
	used := utf8.RuneCountInString(b.String())
	for i := start; i < end; i++ {
		cell := renderCell(r, nb.Cells[i], i, s.opts.TextBudget/4)
		size := utf8.RuneCountInString(cell)
		if used+size > s.opts.TextBudget && i > start {
			fmt.Fprintf(&b, "\n[cells %d to %d not shown, to stay within the text budget: call get_notebook_outputs with start=%d]\n", i, end-1, i)
			break
		}
		b.WriteString(cell)
		used += size
	}
	return &sdk.CallToolResult{Content: r.content(b.String())}, nil, nil
}

// renderCell shows one cell: a header, its source, and its outputs, each
// part clipped to budget characters.
func renderCell(r *renderer, c *notebook.Cell, i, budget int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- cell %d · id %s · %s", i, c.ID, c.Type)
	if c.Type == notebook.CodeCell && c.ExecutionCount != nil {
		fmt.Fprintf(&b, " · execution_count=%d", *c.ExecutionCount)
	}
	b.WriteString(" ---\n")
	b.WriteString(clip(c.Source, budget, "the notebook file has the whole source"))
	if c.Type == notebook.CodeCell && len(c.Outputs) > 0 {
		b.WriteString("\n--- output ---\n")
		b.WriteString(clipOutputs(r.outputs(c), budget, c.ID))
	}
	b.WriteString("\n")
	return b.String()
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

func (s *Server) readOutput(ctx context.Context, _ *sdk.CallToolRequest, in ReadOutputInput) (*sdk.CallToolResult, any, error) {
	if in.Offset < 0 || in.Length < 0 {
		return nil, nil, errors.New("offset and length count characters from 0: give numbers of 0 or more")
	}
	nb, err := s.notebookOf(in.SessionID)
	if err != nil {
		return nil, nil, err
	}
	c, i, o, err := findOutput(nb, in.Cell.ref, in.Output)
	if err != nil {
		return nil, nil, err
	}
	part, err := s.outputPart(c, in.Output, o, in.MIME)
	if err != nil {
		return nil, nil, err
	}
	head := fmt.Sprintf("%s output %d (%s)", cellName(c, i), in.Output, part.kind)
	if part.image != nil {
		return &sdk.CallToolResult{Content: []sdk.Content{
			&sdk.TextContent{Text: head + ": " + part.imageNote},
			&sdk.ImageContent{Data: part.image.data, MIMEType: part.image.mime},
		}}, nil, nil
	}
	length := in.Length
	if length == 0 || length > s.opts.TextBudget {
		length = s.opts.TextBudget
	}
	total := utf8.RuneCountInString(part.text)
	if in.Offset > total {
		return nil, nil, fmt.Errorf("offset %d is past the end: this output has %d characters", in.Offset, total)
	}
	end := min(total, in.Offset+length)
	from, to := runeIndex(part.text, in.Offset), runeIndex(part.text, end)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: characters %d to %d of %d\n", head, in.Offset, end, total)
	b.WriteString(part.text[from:to])
	if end < total {
		fmt.Fprintf(&b, "\n[%d characters more: read_output(cell=%q, output=%d, offset=%d)]", total-end, c.ID, in.Output, end)
	}
	return textResult(b.String()), nil, nil
}

// findOutput finds output k of the cell ref names.
func findOutput(nb *notebook.Notebook, ref notebook.Ref, k int) (*notebook.Cell, int, *notebook.Output, error) {
	c, i, err := nb.Lookup(ref)
	if err != nil {
		return nil, 0, nil, err
	}
	switch {
	case c.Type != notebook.CodeCell:
		return nil, 0, nil, fmt.Errorf("%s is a %s cell: it has no outputs", cellName(c, i), c.Type)
	case len(c.Outputs) == 0:
		return nil, 0, nil, fmt.Errorf("%s has no outputs", cellName(c, i))
	case k < 0 || k >= len(c.Outputs):
		return nil, 0, nil, fmt.Errorf("%s has %d outputs (0 to %d); output %d is not one of them", cellName(c, i), len(c.Outputs), len(c.Outputs)-1, k)
	}
	return c, i, c.Outputs[k], nil
}

// outputPart is one output in full: its text, or an image.
type outputPart struct {
	kind      string // stream stdout, error, image/png, text/html, ...
	mime      string // of text, for resources
	text      string
	image     *agentImage
	imageNote string
	raw       []byte // an image's bytes as stored, for resources
}

// outputPart picks what of output k to return: mime when given, else the
// image, else the text results show (the source, for HTML and SVG that
// results only name).
func (s *Server) outputPart(c *notebook.Cell, k int, o *notebook.Output, mime string) (*outputPart, error) {
	r := &renderer{maxEdge: s.opts.MaxImageEdge}
	switch o.Type {
	case notebook.StreamOutput:
		if mime != "" && mime != "text/plain" {
			return nil, fmt.Errorf("output %d is a stream (%s): it has only text, not %s", k, o.Name, mime)
		}
		return &outputPart{kind: "stream " + o.Name, mime: "text/plain", text: r.one(o, c.ID, k)}, nil
	case notebook.ErrorOutput:
		if mime != "" && mime != "text/plain" {
			return nil, fmt.Errorf("output %d is an error: it has only text, not %s", k, mime)
		}
		return &outputPart{kind: "error " + o.EName, mime: "text/plain", text: errorText(o)}, nil
	}
	if mime == "" {
		for _, m := range []string{"image/png", "image/jpeg"} {
			if _, ok := o.Data[m]; ok {
				mime = m
				break
			}
		}
	}
	if mime == "" {
		text := r.rich(o, c.ID, k)
		for _, m := range []string{"text/html", "image/svg+xml"} {
			if v, ok := str(o.Data[m]); ok && strings.HasPrefix(text, "[") && strings.Contains(text, "mime=\""+m+"\"") {
				return &outputPart{kind: o.Type + " " + m, mime: m, text: v}, nil
			}
		}
		return &outputPart{kind: o.Type, mime: "text/plain", text: text}, nil
	}
	raw, ok := o.Data[mime]
	if !ok {
		have := slices.Sorted(maps.Keys(o.Data))
		return nil, fmt.Errorf("output %d has no %s; it has %s", k, mime, strings.Join(have, ", "))
	}
	if attachable[mime] {
		b64, _ := str(raw)
		img, err := prepareImage(mime, b64, s.opts.MaxImageEdge)
		if err != nil {
			return nil, fmt.Errorf("output %d's %s could not be decoded: %v", k, mime, err)
		}
		note := fmt.Sprintf("%dx%d", img.width, img.height)
		if img.width != img.origW {
			note += fmt.Sprintf(", scaled down from %dx%d", img.origW, img.origH)
		}
		orig, _ := decodeBase64(b64)
		return &outputPart{kind: mime, mime: mime, image: img, imageNote: note, raw: orig}, nil
	}
	if v, ok := str(raw); ok {
		return &outputPart{kind: o.Type + " " + mime, mime: mime, text: v}, nil
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		b.Reset()
		b.Write(raw)
	}
	return &outputPart{kind: o.Type + " " + mime, mime: mime, text: b.String()}, nil
}
