package notebook

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Read parses an nbformat 4.0-4.5 notebook. Multiline fields may be strings
// or lists of strings. Cells without a valid, unique id get a fresh one, as
// nbformat's upgrade to 4.5 does, and transient metadata (orig_nbformat,
// signature, trusted) is dropped. Other major versions are rejected.
func Read(r io.Reader) (*Notebook, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("notebook: read: %w", err)
	}
	return parse(data)
}

// ReadFile reads the notebook at path; see Read.
func ReadFile(path string) (*Notebook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notebook: %w", err)
	}
	nb, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nb, nil
}

// The on-disk shapes. Fields stay raw where nbformat allows two forms.
type (
	fileNotebook struct {
		NBFormat *int                       `json:"nbformat"`
		Minor    *int                       `json:"nbformat_minor"`
		Metadata map[string]json.RawMessage `json:"metadata"`
		Cells    []*fileCell                `json:"cells"`
	}
	fileCell struct {
		ID             *string                    `json:"id"`
		CellType       string                     `json:"cell_type"`
		Metadata       map[string]json.RawMessage `json:"metadata"`
		Source         json.RawMessage            `json:"source"`
		ExecutionCount *int                       `json:"execution_count"`
		Outputs        []*fileOutput              `json:"outputs"`
		Attachments    json.RawMessage            `json:"attachments"`
	}
	fileOutput struct {
		OutputType     string                     `json:"output_type"`
		Name           string                     `json:"name"`
		Text           json.RawMessage            `json:"text"`
		Data           map[string]json.RawMessage `json:"data"`
		Metadata       map[string]json.RawMessage `json:"metadata"`
		ExecutionCount *int                       `json:"execution_count"`
		EName          string                     `json:"ename"`
		EValue         string                     `json:"evalue"`
		Traceback      []string                   `json:"traceback"`
	}
)

func parse(data []byte) (*Notebook, error) {
	var version struct {
		NBFormat *int `json:"nbformat"`
		Minor    *int `json:"nbformat_minor"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		return nil, fmt.Errorf("notebook: not a JSON notebook: %w", err)
	}
	switch {
	case version.NBFormat == nil:
		return nil, fmt.Errorf("notebook: no nbformat field: not a Jupyter notebook")
	case *version.NBFormat != 4:
		return nil, fmt.Errorf("notebook: nbformat %d is not supported, only 4 "+
			"(convert it with `jupyter nbconvert --to notebook --nbformat 4`)", *version.NBFormat)
	case version.Minor == nil:
		return nil, fmt.Errorf("notebook: no nbformat_minor field")
	case *version.Minor < 0 || *version.Minor > 5:
		return nil, fmt.Errorf("notebook: nbformat 4.%d is not supported, only 4.0 to 4.5", *version.Minor)
	}

	var f fileNotebook
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("notebook: bad nbformat 4 JSON: %w", err)
	}
	if f.Cells == nil {
		return nil, fmt.Errorf("notebook: no cells field")
	}
	nb := New()
	for k, v := range f.Metadata {
		nb.Metadata[k] = v
	}
	delete(nb.Metadata, "orig_nbformat")
	delete(nb.Metadata, "orig_nbformat_minor")
	delete(nb.Metadata, "signature")

	for i, fc := range f.Cells {
		if fc == nil {
			return nil, fmt.Errorf("notebook: cell %d is null", i)
		}
		c, err := fc.cell()
		if err != nil {
			return nil, fmt.Errorf("notebook: cell %d: %w", i, err)
		}
		nb.Cells = append(nb.Cells, c)
	}
	nb.fixIDs()
	return nb, nil
}

// fixIDs gives every cell without a valid, unique id a fresh one; the first
// cell with a given id keeps it.
func (nb *Notebook) fixIDs() {
	kept := make(map[string]bool, len(nb.Cells))
	for _, c := range nb.Cells {
		if validID(c.ID) && !kept[c.ID] {
			kept[c.ID] = true
			continue
		}
		c.ID = "" // replaced below; newID must not see the duplicate
	}
	for _, c := range nb.Cells {
		if c.ID == "" {
			c.ID = nb.newID()
		}
	}
}

func (fc *fileCell) cell() (*Cell, error) {
	c := &Cell{Type: fc.CellType, Metadata: fc.Metadata}
	if fc.ID != nil {
		c.ID = *fc.ID
	}
	if c.Metadata == nil {
		c.Metadata = map[string]json.RawMessage{}
	}
	delete(c.Metadata, "trusted")
	if fc.Source == nil {
		return nil, fmt.Errorf("no source")
	}
	src, err := multiline(fc.Source)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	c.Source = src
	switch fc.CellType {
	case CodeCell:
		if fc.ExecutionCount != nil && *fc.ExecutionCount < 0 {
			return nil, fmt.Errorf("negative execution_count %d", *fc.ExecutionCount)
		}
		c.ExecutionCount = fc.ExecutionCount
		c.Outputs = make([]*Output, 0, len(fc.Outputs))
		for j, fo := range fc.Outputs {
			if fo == nil {
				return nil, fmt.Errorf("output %d is null", j)
			}
			o, err := fo.output()
			if err != nil {
				return nil, fmt.Errorf("output %d: %w", j, err)
			}
			c.Outputs = append(c.Outputs, o)
		}
	case MarkdownCell, RawCell:
		if string(fc.Attachments) != "null" {
			c.Attachments = fc.Attachments
		}
	default:
		return nil, fmt.Errorf("unknown cell_type %q (want code, markdown or raw)", fc.CellType)
	}
	return c, nil
}

func (fo *fileOutput) output() (*Output, error) {
	o := &Output{Type: fo.OutputType}
	switch fo.OutputType {
	case StreamOutput:
		if fo.Name == "" || fo.Text == nil {
			return nil, fmt.Errorf("stream output needs a name and a text")
		}
		text, err := multiline(fo.Text)
		if err != nil {
			return nil, fmt.Errorf("text %w", err)
		}
		o.Name, o.Text = fo.Name, text
	case DisplayDataOutput, ExecuteResultOutput:
		data, err := normalizeBundle(fo.Data)
		if err != nil {
			return nil, err
		}
		o.Data, o.Metadata = data, fo.Metadata
		if o.Metadata == nil {
			o.Metadata = map[string]json.RawMessage{}
		}
		if fo.OutputType == ExecuteResultOutput {
			if fo.ExecutionCount != nil && *fo.ExecutionCount < 0 {
				return nil, fmt.Errorf("negative execution_count %d", *fo.ExecutionCount)
			}
			o.ExecutionCount = fo.ExecutionCount
		}
	case ErrorOutput:
		o.EName, o.EValue, o.Traceback = fo.EName, fo.EValue, fo.Traceback
		if o.Traceback == nil {
			o.Traceback = []string{}
		}
	default:
		return nil, fmt.Errorf("unknown output_type %q (want stream, display_data, execute_result or error)", fo.OutputType)
	}
	return o, nil
}
