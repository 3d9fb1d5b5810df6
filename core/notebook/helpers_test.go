package notebook

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sena-labs/sena/core/notebook/nbtest"
)

// schema45 compiles nbformat.v4.5.schema.json from the installed Python
// nbformat package; the schema is not copied into this repository.
var schema45 = sync.OnceValues(func() (*jsonschema.Schema, error) {
	var firstErr error
	for _, py := range nbtest.Pythons() {
		out, err := exec.Command(py, "-c", "import nbformat, os; print(os.path.dirname(nbformat.__file__))").Output()
		if err != nil {
			firstErr = err
			continue
		}
		path := filepath.Join(strings.TrimSpace(string(out)), "v4", "nbformat.v4.5.schema.json")
		f, err := os.Open(path)
		if err != nil {
			firstErr = err
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(path, doc); err != nil {
			return nil, err
		}
		return c.Compile(path)
	}
	return nil, firstErr
})

// validateSchema checks notebook JSON against the 4.5 schema with the Go
// validator, and checks what the schema cannot: unique ids, no transient.
func validateSchema(t *testing.T, data []byte) {
	t.Helper()
	nbtest.Python(t) // the schema ships with Python's nbformat: skip or fail like it
	sch, err := schema45()
	if err != nil || sch == nil {
		t.Fatalf("loading the nbformat 4.5 schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("notebook is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("notebook fails the nbformat 4.5 schema: %v\n%s", err, data)
	}
	var nb struct {
		Cells []struct {
			ID      string            `json:"id"`
			Outputs []json.RawMessage `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range nb.Cells {
		if ids[c.ID] {
			t.Fatalf("duplicate cell id %q", c.ID)
		}
		ids[c.ID] = true
		for _, o := range c.Outputs {
			if bytes.Contains(o, []byte(`"transient"`)) {
				t.Fatalf("output keeps transient: %s", o)
			}
		}
	}
}

// checkWritten marshals nb, validates it with the Go schema validator and
// with Python's nbformat, checks that every available Python nbformat
// rewrites it to the same bytes, and returns them.
func checkWritten(t *testing.T, nb *Notebook) []byte {
	t.Helper()
	data, err := nb.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	validateSchema(t, data)
	dir := t.TempDir()
	path := filepath.Join(dir, "go.ipynb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	nbtest.Validate(t, path)
	for i, py := range nbtest.Pythons() {
		out := filepath.Join(dir, "py"+strconv.Itoa(i)+".ipynb")
		nbtest.Rewrite(t, py, path, out)
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("Marshal differs from %s's nbformat.write:\n%s", py, firstDiff(data, want))
		}
	}
	return data
}

// firstDiff shows where two byte slices first differ, with context.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-80)
	return "byte " + strconv.Itoa(i) + "\n--- go:\n" + string(got[lo:min(len(got), i+80)]) +
		"\n--- python:\n" + string(want[lo:min(len(want), i+80)])
}

// apply feeds an iopub message to a cell, failing the test on error.
func apply(t *testing.T, nb *Notebook, c *Cell, msgType, content string) {
	t.Helper()
	if err := nb.Apply(c, msgType, json.RawMessage(content)); err != nil {
		t.Fatalf("Apply(%s, %s): %v", msgType, content, err)
	}
}
