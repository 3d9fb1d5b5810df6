package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/notebook"
)

// CellRef is a cell argument: a cell's id (a string, as results print it)
// or its index among all cells (an integer; negative counts from the end).
// A string of digits that no cell has as its id is read as an index.
type CellRef struct {
	ref notebook.Ref
	set bool
}

// UnmarshalJSON reads a string id or an integer index.
func (c *CellRef) UnmarshalJSON(b []byte) error {
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		x = strings.TrimSpace(x)
		if x == "" {
			return fmt.Errorf("a cell is its id or its index, not an empty string")
		}
		c.ref, c.set = notebook.RefID(x), true
	case json.Number:
		n = x
		i, err := n.Int64()
		if err != nil {
			return fmt.Errorf("cell index %s: want a whole number", n)
		}
		c.ref, c.set = notebook.RefIndex(int(i)), true
	case nil:
	default:
		return fmt.Errorf("a cell is its id (a string) or its index (an integer), not %s", b)
	}
	return nil
}

// ptr is the reference, or nil when the argument was not given.
func (c CellRef) ptr() *notebook.Ref {
	if !c.set {
		return nil
	}
	r := c.ref
	return &r
}

// inputSchema derives a tool's input schema from T, reading CellRef
// fields as "string or integer".
func inputSchema[T any]() *jsonschema.Schema {
	s, err := jsonschema.ForType(reflect.TypeFor[T](), &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[CellRef](): {AnyOf: []*jsonschema.Schema{{Type: "string"}, {Type: "integer"}}},
	}})
	if err != nil {
		panic(fmt.Sprintf("mcp: input schema of %s: %v", reflect.TypeFor[T](), err)) // types are fixed; the tests build every schema
	}
	return s
}

// addTool registers a tool whose input schema is derived by inputSchema.
func addTool[In, Out any](s *Server, t *sdk.Tool, h sdk.ToolHandlerFor[In, Out]) {
	t.InputSchema = inputSchema[In]()
	sdk.AddTool(s.sdk, t, h)
}

// jsonText is v as JSON without HTML escaping, for the text content of
// structured results: agents read it, and \u003c for < is noise.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// structured is a result with v as its structured content and as readable
// JSON text.
func structured[Out any](v Out) (*sdk.CallToolResult, Out, error) {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: jsonText(v)}}}, v, nil
}
