package notebook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// Cell types.
const (
	CodeCell     = "code"
	MarkdownCell = "markdown"
	RawCell      = "raw"
)

// Output types, as written in output_type.
const (
	StreamOutput        = "stream"
	DisplayDataOutput   = "display_data"
	ExecuteResultOutput = "execute_result"
	ErrorOutput         = "error"
)

// Notebook is an nbformat 4.5 notebook. It always writes nbformat 4, minor 5.
type Notebook struct {
	Metadata map[string]json.RawMessage // kernelspec, language_info, and anything else
	Cells    []*Cell
}

// Cell is one notebook cell. Source, and every other multiline text, is held
// joined; Marshal splits it into lines the way nbformat does.
type Cell struct {
	ID             string // 1-64 characters of [a-zA-Z0-9-_], unique in the notebook
	Type           string // CodeCell, MarkdownCell or RawCell
	Source         string
	Metadata       map[string]json.RawMessage
	ExecutionCount *int            // code cells only; nil is written as null
	Outputs        []*Output       // code cells only
	Attachments    json.RawMessage // markdown and raw cells only; {filename: mimebundle}

	clearPending bool // clear_output(wait=true) seen: clear before the next output
}

// Output is one output of a code cell. Which fields are used depends on Type:
// stream uses Name and Text; display_data uses Data and Metadata;
// execute_result adds ExecutionCount; error uses EName, EValue and Traceback.
type Output struct {
	Type           string
	Name           string                     // stream name: stdout or stderr
	Text           string                     // stream text
	Data           map[string]json.RawMessage // MIME bundle; text values are JSON strings, JSON mime types any JSON value
	Metadata       map[string]json.RawMessage
	ExecutionCount *int
	EName, EValue  string
	Traceback      []string

	displayID string // transient.display_id: target of update_display_data, never written
}

// New returns an empty notebook with empty metadata, ready for SetKernel.
func New() *Notebook {
	return &Notebook{Metadata: map[string]json.RawMessage{}}
}

// SetKernel records metadata.kernelspec and metadata.language_info. The
// values come from the server's kernelspecs and the kernel_info_reply's
// language_info, which is kept verbatim; when languageInfo is empty,
// language_info is {"name": language}.
func (nb *Notebook) SetKernel(specName, displayName, language string, languageInfo json.RawMessage) {
	if nb.Metadata == nil {
		nb.Metadata = map[string]json.RawMessage{}
	}
	spec := map[string]string{"name": specName, "display_name": displayName}
	if language != "" {
		spec["language"] = language
	}
	nb.Metadata["kernelspec"] = mustJSON(spec)
	if len(languageInfo) == 0 {
		languageInfo = mustJSON(map[string]string{"name": language})
	}
	nb.Metadata["language_info"] = append(json.RawMessage(nil), languageInfo...)
}

// AddCode appends a code cell with a fresh id, a null execution count and no
// outputs.
func (nb *Notebook) AddCode(source string) *Cell {
	c := nb.NewCode(source)
	nb.Cells = append(nb.Cells, c)
	return c
}

// AddMarkdown appends a markdown cell with a fresh id.
func (nb *Notebook) AddMarkdown(source string) *Cell {
	c := nb.NewMarkdown(source)
	nb.Cells = append(nb.Cells, c)
	return c
}

func newMeta() map[string]json.RawMessage { return map[string]json.RawMessage{} }

// CellByID returns the cell with the given id and its index in the notebook,
// or nil and -1.
func (nb *Notebook) CellByID(id string) (*Cell, int) {
	for i, c := range nb.Cells {
		if c.ID == id {
			return c, i
		}
	}
	return nil, -1
}

// CodeCells returns the code cells in notebook order.
func (nb *Notebook) CodeCells() []*Cell {
	var cells []*Cell
	for _, c := range nb.Cells {
		if c.Type == CodeCell {
			cells = append(cells, c)
		}
	}
	return cells
}

// SetExecutionCount sets the cell's execution count; execute_reply's count
// is the authoritative one.
func (c *Cell) SetExecutionCount(n int) {
	c.ExecutionCount = &n
}

// ClearOutputs removes every output, and any clear_output(wait=true) still
// pending, as before a cell runs again. The execution count is left alone.
func (c *Cell) ClearOutputs() {
	c.Outputs = []*Output{}
	c.clearPending = false
}

// newID returns 8 hex characters from crypto/rand that no cell uses yet,
// the same shape as nbformat's uuid4().hex[:8]. It always has a letter, so
// an id never reads as a cell index (see Lookup).
func (nb *Notebook) newID() string {
	for {
		var b [4]byte
		rand.Read(b[:]) // never fails: Go crashes the program instead
		id := hex.EncodeToString(b[:])
		if _, err := strconv.Atoi(id); err == nil {
			continue
		}
		if c, _ := nb.CellByID(id); c == nil {
			return id
		}
	}
}

// validID reports whether id matches the schema: ^[a-zA-Z0-9-_]+$, 1-64 long.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with maps of strings
	}
	return b
}
