package notebook

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sena-labs/sena/internal/atomicfile"
)

// Marshal returns the notebook as nbformat 4.5 JSON, byte for byte what
// Python's nbformat.write produces for it: indent 1, sorted keys, no HTML
// escaping, multiline text split into lines, a trailing newline. It fails,
// naming the cell, on anything the 4.5 schema would reject.
func (nb *Notebook) Marshal() ([]byte, error) {
	tree, err := nb.tree()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writePy(&b, tree, 0); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// WriteFile writes the notebook atomically: a temporary file in the same
// directory, synced, then renamed over path, so a reader (or a crash) never
// sees half a notebook. The file's mode is 0644.
func (nb *Notebook) WriteFile(path string) error {
	data, err := nb.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("notebook: write %s: %w", path, err)
	}
	return nil
}

// tree builds the notebook as generic JSON values for writePy, splitting
// multiline text as nbformat's split_lines does.
func (nb *Notebook) tree() (map[string]any, error) {
	meta, err := rawObject(nb.Metadata)
	if err != nil {
		return nil, fmt.Errorf("notebook: metadata: %w", err)
	}
	// Transient keys nbformat strips on every write (rwbase.strip_transient).
	delete(meta, "orig_nbformat")
	delete(meta, "orig_nbformat_minor")
	delete(meta, "signature")

	cells := make([]any, 0, len(nb.Cells))
	seen := make(map[string]int, len(nb.Cells))
	for i, c := range nb.Cells {
		if c == nil {
			return nil, fmt.Errorf("notebook: cell %d is nil", i)
		}
		if !validID(c.ID) {
			return nil, fmt.Errorf("notebook: cell %d: id %q must be 1-64 characters of a-z, A-Z, 0-9, - and _", i, c.ID)
		}
		if j, dup := seen[c.ID]; dup {
			return nil, fmt.Errorf("notebook: cells %d and %d have the same id %q", j, i, c.ID)
		}
		seen[c.ID] = i
		cell, err := c.tree()
		if err != nil {
			return nil, fmt.Errorf("notebook: cell %d (id %s): %w", i, c.ID, err)
		}
		cells = append(cells, cell)
	}
	return map[string]any{
		"cells":          cells,
		"metadata":       meta,
		"nbformat":       4,
		"nbformat_minor": 5,
	}, nil
}

func (c *Cell) tree() (map[string]any, error) {
	meta, err := rawObject(c.Metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	delete(meta, "trusted") // transient, stripped by nbformat too
	t := map[string]any{
		"cell_type": c.Type,
		"id":        c.ID,
		"metadata":  meta,
		"source":    splitLines(c.Source),
	}
	switch c.Type {
	case CodeCell:
		if len(c.Attachments) > 0 {
			return nil, fmt.Errorf("code cells cannot have attachments")
		}
		if c.ExecutionCount != nil {
			if *c.ExecutionCount < 0 {
				return nil, fmt.Errorf("negative execution count %d", *c.ExecutionCount)
			}
			t["execution_count"] = *c.ExecutionCount
		} else {
			t["execution_count"] = nil
		}
		outputs := make([]any, 0, len(c.Outputs))
		for j, o := range c.Outputs {
			ot, err := o.tree()
			if err != nil {
				return nil, fmt.Errorf("output %d: %w", j, err)
			}
			outputs = append(outputs, ot)
		}
		t["outputs"] = outputs
	case MarkdownCell, RawCell:
		if len(c.Outputs) > 0 || c.ExecutionCount != nil {
			return nil, fmt.Errorf("a %s cell cannot have outputs or an execution count", c.Type)
		}
		if len(c.Attachments) > 0 {
			att, err := attachmentsTree(c.Attachments)
			if err != nil {
				return nil, fmt.Errorf("attachments: %w", err)
			}
			t["attachments"] = att
		}
	default:
		return nil, fmt.Errorf("unknown cell type %q (want code, markdown or raw)", c.Type)
	}
	return t, nil
}

func (o *Output) tree() (map[string]any, error) {
	if o == nil {
		return nil, fmt.Errorf("nil output")
	}
	t := map[string]any{"output_type": o.Type}
	switch o.Type {
	case StreamOutput:
		if o.Name == "" {
			return nil, fmt.Errorf("stream output without a name")
		}
		t["name"] = o.Name
		t["text"] = splitLines(o.Text)
	case DisplayDataOutput, ExecuteResultOutput:
		data, err := bundleTree(o.Data)
		if err != nil {
			return nil, err
		}
		meta, err := rawObject(o.Metadata)
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		t["data"], t["metadata"] = data, meta
		if o.Type == ExecuteResultOutput {
			if o.ExecutionCount != nil {
				if *o.ExecutionCount < 0 {
					return nil, fmt.Errorf("negative execution count %d", *o.ExecutionCount)
				}
				t["execution_count"] = *o.ExecutionCount
			} else {
				t["execution_count"] = nil
			}
		}
	case ErrorOutput:
		tb := o.Traceback
		if tb == nil {
			tb = []string{}
		}
		t["ename"], t["evalue"], t["traceback"] = o.EName, o.EValue, tb
	default:
		return nil, fmt.Errorf("unknown output type %q (want stream, display_data, execute_result or error)", o.Type)
	}
	return t, nil
}

// bundleTree converts a MIME bundle, splitting text values into lines.
func bundleTree(data map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, len(data))
	for mime, raw := range data {
		if isJSONMime(mime) {
			v, err := decodeJSON(raw)
			if err != nil {
				return nil, fmt.Errorf("data[%q]: %w", mime, err)
			}
			out[mime] = v
			continue
		}
		s, err := multiline(raw)
		if err != nil {
			return nil, fmt.Errorf("data[%q]: %w", mime, err)
		}
		if splitMime(mime) {
			out[mime] = splitLines(s)
		} else {
			out[mime] = s
		}
	}
	return out, nil
}

func attachmentsTree(raw json.RawMessage) (map[string]any, error) {
	var files map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &files); err != nil || files == nil {
		return nil, fmt.Errorf("must map file names to MIME bundles: %s", clip(raw))
	}
	out := make(map[string]any, len(files))
	for name, bundle := range files {
		t, err := bundleTree(bundle)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// rawObject decodes a metadata map, keeping numbers exact.
func rawObject(m map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, raw := range m {
		v, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}
