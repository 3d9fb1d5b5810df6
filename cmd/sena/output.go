package main

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/sena-labs/sena/core/notebook"
	"github.com/urfave/cli/v2"
)

// What each command prints with --json. docs/schemas/COMMAND.schema.json
// describes each one, and a test checks real outputs against them: a
// field is added there when it is added here. Names are snake_case.

func writeJSON(c *cli.Context, v any) error {
	return encodeJSON(c.App.Writer, v)
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// nbOutput is one cell output in nbformat 4's shape (multiline strings
// joined), with tracebacks as plain text.
type nbOutput map[string]any

func nbOutputs(outs []*notebook.Output) []nbOutput {
	res := make([]nbOutput, 0, len(outs))
	for _, o := range outs {
		res = append(res, toNBOutput(o))
	}
	return res
}

func toNBOutput(o *notebook.Output) nbOutput {
	out := nbOutput{"output_type": o.Type}
	switch o.Type {
	case notebook.StreamOutput:
		out["name"], out["text"] = o.Name, o.Text
	case notebook.DisplayDataOutput, notebook.ExecuteResultOutput:
		data := map[string]json.RawMessage{}
		for k, v := range o.Data {
			data[k] = v
		}
		meta := map[string]json.RawMessage{}
		for k, v := range o.Metadata {
			meta[k] = v
		}
		out["data"], out["metadata"] = data, meta
		if o.Type == notebook.ExecuteResultOutput {
			out["execution_count"] = o.ExecutionCount
		}
	case notebook.ErrorOutput:
		tb := make([]string, 0, len(o.Traceback))
		for _, l := range o.Traceback {
			tb = append(tb, notebook.StripANSI(l))
		}
		out["ename"], out["evalue"], out["traceback"] = o.EName, notebook.StripANSI(o.EValue), tb
	}
	return out
}

// plainTraceback is an error output as a terminal shows it without colour.
func plainTraceback(lines []string) string {
	return notebook.StripANSI(strings.Join(lines, "\n"))
}
