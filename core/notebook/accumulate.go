package notebook

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// Apply adds one iopub message of a cell's execution to the cell: msgType is
// the Jupyter message type and content its content, verbatim. It follows
// JupyterLab's output area:
//
//   - stream appends to the last output when that is a stream of the same
//     name, and adds a new output otherwise;
//   - display_data and execute_result add an output; a transient.display_id
//     is remembered for updates but never written;
//   - update_display_data replaces data and metadata of every output with
//     that display id, in any cell of nb, and adds nothing;
//   - clear_output clears now, or with wait=true just before the next output;
//   - error adds an error output;
//   - execute_input sets the execution count, provisionally (execute_reply's
//     count is authoritative: see SetExecutionCount).
//
// Other message types (status, comm_*, ...) are ignored. Malformed content
// is an error and leaves the notebook unchanged.
func (nb *Notebook) Apply(c *Cell, msgType string, content json.RawMessage) error {
	if c == nil {
		return errors.New("notebook: Apply: nil cell")
	}
	if c.Type != CodeCell {
		switch msgType {
		case "stream", "display_data", "execute_result", "error", "clear_output", "execute_input":
			return fmt.Errorf("notebook: %s for cell %s, a %s cell: only code cells have outputs", msgType, c.ID, c.Type)
		}
	}
	switch msgType {
	case "stream":
		var m struct {
			Name *string `json:"name"`
			Text *string `json:"text"`
		}
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Name == nil || *m.Name == "" || m.Text == nil {
			return fmt.Errorf("notebook: stream content needs a name and a text: %s", clip(content))
		}
		c.flushClear()
		if n := len(c.Outputs); n > 0 && c.Outputs[n-1].Type == StreamOutput && c.Outputs[n-1].Name == *m.Name {
			c.Outputs[n-1].Text += *m.Text
			return nil
		}
		c.Outputs = append(c.Outputs, &Output{Type: StreamOutput, Name: *m.Name, Text: *m.Text})

	case "display_data", "execute_result":
		var m richContent
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		o, err := m.output(msgType)
		if err != nil {
			return err
		}
		c.flushClear()
		c.Outputs = append(c.Outputs, o)

	case "update_display_data":
		var m richContent
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Transient.DisplayID == "" {
			return fmt.Errorf("notebook: update_display_data without transient.display_id: %s", clip(content))
		}
		o, err := m.output(DisplayDataOutput)
		if err != nil {
			return err
		}
		for _, cell := range nb.Cells {
			for _, old := range cell.Outputs {
				if old.displayID == o.displayID {
					// Copies, so no two outputs share a map.
					old.Data, old.Metadata = maps.Clone(o.Data), maps.Clone(o.Metadata)
				}
			}
		}

	case "clear_output":
		var m struct {
			Wait bool `json:"wait"`
		}
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Wait {
			c.clearPending = true
		} else {
			c.ClearOutputs()
		}

	case "error":
		var m struct {
			EName     string   `json:"ename"`
			EValue    string   `json:"evalue"`
			Traceback []string `json:"traceback"`
		}
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Traceback == nil {
			m.Traceback = []string{}
		}
		c.flushClear()
		c.Outputs = append(c.Outputs, &Output{Type: ErrorOutput, EName: m.EName, EValue: m.EValue, Traceback: m.Traceback})

	case "execute_input":
		var m struct {
			ExecutionCount *int `json:"execution_count"`
		}
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.ExecutionCount != nil {
			if *m.ExecutionCount < 0 {
				return fmt.Errorf("notebook: execute_input with negative execution_count %d", *m.ExecutionCount)
			}
			c.SetExecutionCount(*m.ExecutionCount)
		}
	}
	return nil
}

// flushClear carries out a pending clear_output(wait=true).
func (c *Cell) flushClear() {
	if c.clearPending {
		c.ClearOutputs()
	}
}

// richContent is the content of display_data, execute_result and
// update_display_data.
type richContent struct {
	Data           map[string]json.RawMessage `json:"data"`
	Metadata       map[string]json.RawMessage `json:"metadata"`
	ExecutionCount *int                       `json:"execution_count"`
	Transient      struct {
		DisplayID string `json:"display_id"`
	} `json:"transient"`
}

func (m *richContent) output(typ string) (*Output, error) {
	data, err := normalizeBundle(m.Data)
	if err != nil {
		return nil, fmt.Errorf("notebook: %s: %w", typ, err)
	}
	if m.Metadata == nil {
		m.Metadata = map[string]json.RawMessage{}
	}
	o := &Output{Type: typ, Data: data, Metadata: m.Metadata, displayID: m.Transient.DisplayID}
	if typ == ExecuteResultOutput {
		if m.ExecutionCount != nil && *m.ExecutionCount < 0 {
			return nil, fmt.Errorf("notebook: execute_result with negative execution_count %d", *m.ExecutionCount)
		}
		o.ExecutionCount = m.ExecutionCount
	}
	return o, nil
}

func decodeContent(msgType string, content json.RawMessage, v any) error {
	if err := json.Unmarshal(content, v); err != nil {
		return fmt.Errorf("notebook: bad %s content: %v: %s", msgType, err, clip(content))
	}
	return nil
}

// clip shortens content for error messages; outputs can be megabytes.
func clip(b []byte) string {
	const max = 200
	if len(b) <= max {
		return string(b)
	}
	return string(b[:max]) + "..."
}
