package notebook

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNewCellsHaveUniqueHexIDs(t *testing.T) {
	nb := New()
	seen := map[string]bool{}
	for i := range 2000 {
		var c *Cell
		if i%2 == 0 {
			c = nb.AddCode("x")
		} else {
			c = nb.AddMarkdown("y")
		}
		if !hexID.MatchString(c.ID) {
			t.Fatalf("id %q is not 8 hex characters", c.ID)
		}
		if seen[c.ID] {
			t.Fatalf("duplicate id %q after %d cells", c.ID, i)
		}
		seen[c.ID] = true
	}
}

func TestAddCodeAndMarkdown(t *testing.T) {
	nb := New()
	code := nb.AddCode("print(1)")
	md := nb.AddMarkdown("# hi")
	if code.Type != CodeCell || code.ExecutionCount != nil || code.Outputs == nil || len(code.Outputs) != 0 {
		t.Errorf("code cell %+v: want null count and empty outputs", code)
	}
	if md.Type != MarkdownCell || md.Outputs != nil {
		t.Errorf("markdown cell %+v", md)
	}
	if got, i := nb.CellByID(md.ID); got != md || i != 1 {
		t.Errorf("CellByID = %v, %d", got, i)
	}
	if got, i := nb.CellByID("nope"); got != nil || i != -1 {
		t.Errorf("CellByID(missing) = %v, %d", got, i)
	}
	data := checkWritten(t, nb)
	if !strings.Contains(string(data), `"execution_count": null`) || !strings.Contains(string(data), `"outputs": []`) {
		t.Fatalf("new code cell written as:\n%s", data)
	}
}

func TestSetKernel(t *testing.T) {
	nb := New()
	nb.SetKernel("python3", "Python 3 (ipykernel)", "python", json.RawMessage(`{"name":"python","version":"3.11.2"}`))
	var spec map[string]string
	if err := json.Unmarshal(nb.Metadata["kernelspec"], &spec); err != nil {
		t.Fatal(err)
	}
	if spec["name"] != "python3" || spec["display_name"] != "Python 3 (ipykernel)" || spec["language"] != "python" {
		t.Errorf("kernelspec %v", spec)
	}
	if string(nb.Metadata["language_info"]) != `{"name":"python","version":"3.11.2"}` {
		t.Errorf("language_info %s, want it verbatim", nb.Metadata["language_info"])
	}
	checkWritten(t, nb)

	nb.SetKernel("ir", "R", "R", nil)
	if string(nb.Metadata["language_info"]) != `{"name":"R"}` {
		t.Errorf("default language_info %s", nb.Metadata["language_info"])
	}
	checkWritten(t, nb)

	var zero Notebook
	zero.SetKernel("python3", "Python 3", "python", nil)
	if zero.Metadata["kernelspec"] == nil {
		t.Error("SetKernel on a zero Notebook did nothing")
	}
}

func TestCodeCellIndex(t *testing.T) {
	nb := New()
	nb.AddMarkdown("m0")   // 0
	c0 := nb.AddCode("c0") // 1
	nb.AddMarkdown("m1")   // 2
	c1 := nb.AddCode("c1") // 3
	c2 := nb.AddCode("c2") // 4
	nb.AddMarkdown("m2")   // 5
	if got := nb.CodeCells(); len(got) != 3 || got[0] != c0 || got[1] != c1 || got[2] != c2 {
		t.Fatalf("CodeCells = %v", got)
	}
	cases := []struct {
		i, nbIndex int
		cell       *Cell
	}{{0, 1, c0}, {1, 3, c1}, {2, 4, c2}, {-1, 4, c2}, {-2, 3, c1}, {-3, 1, c0}}
	for _, tc := range cases {
		cell, idx, err := nb.CodeCellIndex(tc.i)
		if err != nil || cell != tc.cell || idx != tc.nbIndex {
			t.Errorf("CodeCellIndex(%d) = %v, %d, %v; want %s at %d", tc.i, cell, idx, err, tc.cell.Source, tc.nbIndex)
		}
	}
	for _, i := range []int{3, -4, 100} {
		_, idx, err := nb.CodeCellIndex(i)
		if err == nil || idx != -1 || !strings.Contains(err.Error(), "has 3 code cells") {
			t.Errorf("CodeCellIndex(%d) = %d, %v; want an out-of-range error", i, idx, err)
		}
	}
	if _, _, err := New().CodeCellIndex(-1); err == nil || !strings.Contains(err.Error(), "0 code cells") {
		t.Errorf("empty notebook: %v", err)
	}
}
