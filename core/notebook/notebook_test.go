package notebook

import (
	"encoding/json"
	"errors"
	"strconv"
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

func TestLookupByIDAndIndex(t *testing.T) {
	nb := New()
	m0 := nb.AddMarkdown("m0") // 0
	c0 := nb.AddCode("c0")     // 1
	c1 := nb.AddCode("c1")     // 2
	cases := []struct {
		ref  Ref
		cell *Cell
		idx  int
	}{
		{RefIndex(0), m0, 0}, {RefIndex(2), c1, 2}, {RefIndex(-1), c1, 2}, {RefIndex(-3), m0, 0},
		{RefID(c0.ID), c0, 1}, {RefID("1"), c0, 1}, {RefID("-3"), m0, 0},
	}
	for _, tc := range cases {
		c, i, err := nb.Lookup(tc.ref)
		if err != nil || c != tc.cell || i != tc.idx {
			t.Errorf("Lookup(%v) = %v, %d, %v; want %q at %d", tc.ref, c, i, err, tc.cell.Source, tc.idx)
		}
	}
	for ref, want := range map[Ref]string{
		RefIndex(3): "out of range: the notebook has 3 cells (indexes 0 to 2, or -3 to -1", RefIndex(-4): "out of range",
		RefID("zz12"): `no cell has id "zz12"`, RefID("7"): "cell index 7 is out of range",
	} {
		if _, i, err := nb.Lookup(ref); !errors.Is(err, ErrNoCell) || i != -1 || !strings.Contains(err.Error(), want) {
			t.Errorf("Lookup(%v) = %d, %v; want ErrNoCell saying %q", ref, i, err, want)
		}
	}
	if _, _, err := New().Lookup(RefIndex(-1)); !errors.Is(err, ErrNoCell) || !strings.Contains(err.Error(), "no cells") {
		t.Errorf("empty notebook: %v", err)
	}
}

func TestIDsNeverReadAsIndexes(t *testing.T) {
	nb := New()
	for range 3000 {
		if _, err := strconv.Atoi(nb.AddCode("").ID); err == nil {
			t.Fatalf("id %q is all digits: Lookup would take it for an index", nb.Cells[len(nb.Cells)-1].ID)
		}
	}
}

func TestInsertDeleteMove(t *testing.T) {
	nb := New()
	a, b := nb.AddCode("a"), nb.AddCode("b")
	c := nb.NewMarkdown("c")
	nb.Insert(1, c) // a c b
	d := nb.NewCode("d")
	nb.Insert(99, d) // a c b d
	order := func() string {
		var s string
		for _, x := range nb.Cells {
			s += x.Source
		}
		return s
	}
	if got := order(); got != "acbd" {
		t.Fatalf("after inserts: %s", got)
	}
	nb.Move(0, 3) // c b d a
	if got := order(); got != "cbda" || nb.IndexOf(a) != 3 {
		t.Fatalf("after move to the end: %s", got)
	}
	nb.Move(2, 0) // d c b a
	if got := order(); got != "dcba" {
		t.Fatalf("after move to the front: %s", got)
	}
	if got := nb.Delete(2); got != b || order() != "dca" || nb.IndexOf(b) != -1 {
		t.Fatalf("after delete: %s", order())
	}
	checkWritten(t, nb)
}
