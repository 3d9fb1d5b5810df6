package notebook

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// applyOps applies ops as Sena's notebook service does (core/notebookservice.py),
// for checking that Diff's ops turn before into after.
func applyOps(t *testing.T, nb *Notebook, ops []Op) {
	t.Helper()
	index := func(id string) int {
		for i, c := range nb.Cells {
			if c.ID == id {
				return i
			}
		}
		return -1
	}
	place := func(at json.RawMessage, def int) int {
		var s string
		if json.Unmarshal(at, &s) == nil {
			if s == "start" {
				return 0
			}
			return def
		}
		var m map[string]string
		if json.Unmarshal(at, &m) != nil {
			t.Fatalf("bad at %s", at)
		}
		if i := index(m["after"]); m["after"] != "" && i >= 0 {
			return i + 1
		}
		if i := index(m["before"]); m["before"] != "" && i >= 0 {
			return i
		}
		return def
	}
	for _, op := range ops {
		switch op.Op {
		case "insert":
			c, err := ParseCell(op.Cell)
			if err != nil {
				t.Fatal(err)
			}
			nb.Insert(place(op.At, len(nb.Cells)), c)
		case "delete":
			nb.Delete(index(op.ID))
		case "move":
			i := index(op.ID)
			j := place(op.At, len(nb.Cells))
			if j > i {
				j--
			}
			nb.Move(i, j)
		case "update":
			c, err := ParseCell(op.Cell)
			if err != nil {
				t.Fatal(err)
			}
			nb.Cells[index(op.ID)] = c
		case "metadata":
			for k, v := range op.Set {
				nb.Metadata[k] = v
			}
			for _, k := range op.Delete {
				delete(nb.Metadata, k)
			}
		default:
			t.Fatalf("unknown op %q", op.Op)
		}
	}
}

func ids(nb *Notebook) []string {
	var out []string
	for _, c := range nb.Cells {
		out = append(out, c.ID)
	}
	return out
}

func TestDiffMakesTheChange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		before := New()
		before.Metadata["kept"] = mustJSON("k")
		before.Metadata["gone"] = mustJSON("g")
		for i := 0; i < r.IntN(8); i++ {
			c := before.AddCode(fmt.Sprintf("print(%d)", i))
			if r.IntN(2) == 0 {
				c.Outputs = []*Output{{Type: StreamOutput, Name: "stdout", Text: fmt.Sprintf("%d\n", i)}}
				c.SetExecutionCount(i + 1)
			}
		}
		after := before.Clone()
		for e := 0; e < 1+r.IntN(5); e++ {
			n := len(after.Cells)
			switch k := r.IntN(5); {
			case k == 0 || n == 0:
				after.Insert(r.IntN(n+1), after.NewMarkdown(fmt.Sprintf("# new %d", e)))
			case k == 1:
				after.Delete(r.IntN(n))
			case k == 2:
				after.Move(r.IntN(n), r.IntN(n))
			case k == 3:
				c := after.Cells[r.IntN(n)]
				c.Source += " # edited"
				if c.Type == CodeCell {
					c.ClearOutputs()
					c.ExecutionCount = nil
				}
			default:
				after.Metadata["new"] = mustJSON(e)
				delete(after.Metadata, "gone")
			}
		}
		ops, err := Diff(before, after)
		if err != nil {
			t.Fatal(err)
		}
		got := before.Clone()
		applyOps(t, got, ops)
		a, _ := after.Marshal()
		g, _ := got.Marshal()
		if string(a) != string(g) {
			t.Fatalf("round %d: applying %d ops to %v gives %v, want %v", round, len(ops), ids(before), ids(got), ids(after))
		}
		if moved := countOps(ops, "move"); moved > len(before.Cells) {
			t.Fatalf("round %d: %d moves for %d cells", round, moved, len(before.Cells))
		}
	}
}

func countOps(ops []Op, kind string) int {
	n := 0
	for _, op := range ops {
		if op.Op == kind {
			n++
		}
	}
	return n
}

func TestDiffIsMinimal(t *testing.T) {
	before := New()
	a, b, c := before.AddCode("a"), before.AddCode("b"), before.AddCode("c")
	after := before.Clone()
	if ops, _ := Diff(before, after); len(ops) != 0 {
		t.Fatalf("no change gives %+v", ops)
	}
	// An appended cell goes at the end (not after the last cell: a cell
	// someone else appended meanwhile stays before it), a moved one after
	// its new neighbour, and only changed fields are sent.
	after.Move(2, 0) // c a b
	after.AddCode("d")
	after.Cells[1].Source = "a2"
	ops, err := Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, op := range ops {
		kinds = append(kinds, op.Op+":"+string(op.At))
	}
	if want := []string{`move:"start"`, `update:{"after":"` + c.ID + `"}`, `insert:"end"`}; !slices.Equal(kinds, want) {
		t.Fatalf("ops %q, want %q", kinds, want)
	}
	if up := ops[1]; up.ID != a.ID || len(up.Fields) != 1 || string(up.Fields["source"]) != `"a2"` {
		t.Fatalf("update %+v", up)
	}
	_ = b
}

func TestRecorderKeepsWithinTheLimit(t *testing.T) {
	nb := New()
	c := nb.AddCode("loop")
	const limit = 64 << 10
	r := NewRecorder(nb, c, limit, true)
	var all strings.Builder
	for i := 0; i < 20000; i++ {
		line := fmt.Sprintf("line %05d %s\n", i, strings.Repeat("z", 40))
		all.WriteString(line)
		if err := r.Apply("stream", mustJSON(map[string]string{"name": "stdout", "text": line})); err != nil {
			t.Fatal(err)
		}
	}
	r.Flush()
	text := c.Outputs[0].Text
	if len(c.Outputs) != 1 || len(text) > limit+400 {
		t.Fatalf("%d outputs, %d bytes kept of %d (limit %d)", len(c.Outputs), len(text), all.Len(), limit)
	}
	if !strings.HasPrefix(text, "line 00000 ") || !strings.HasSuffix(text, fmt.Sprintf("line 19999 %s\n", strings.Repeat("z", 40))) {
		t.Fatalf("the kept text lacks the start or the end")
	}
	head, rest, ok := strings.Cut(text, "\n[... Sena: ")
	marker, tail, _ := strings.Cut(rest, " ...]\n")
	if !ok || !strings.Contains(marker, "sena-outputs/"+c.ID+"/stdout.txt") {
		t.Fatalf("no marker naming the file: %q", rest[:200])
	}
	if want := fmt.Sprintf("%s of this stdout not kept", human(all.Len()-len(head)-len(tail))); !strings.HasPrefix(marker, want) {
		t.Fatalf("marker %q, want it to start %q", marker, want)
	}
	if !strings.HasPrefix(all.String(), head) || !strings.HasSuffix(all.String(), tail) {
		t.Fatal("head and tail are not the stream's start and end")
	}
	// Once full, new outputs are counted, not kept; an error is kept.
	png := mustJSON(map[string]any{"data": map[string]string{"image/png": strings.Repeat("QUFB", 4000)}, "metadata": map[string]any{}})
	for i := 0; i < 3; i++ {
		_ = r.Apply("display_data", png)
		_ = r.Apply("stream", mustJSON(map[string]string{"name": "stderr", "text": "warning\n"}))
	}
	_ = r.Apply("error", mustJSON(map[string]any{"ename": "ValueError", "evalue": "bad", "traceback": []string{"Traceback", "ValueError: bad"}}))
	r.Flush()
	if n := len(c.Outputs); n != 3 || c.Outputs[2].EName != "ValueError" || !strings.Contains(c.Outputs[1].PlainText(), "[Sena: 6 more output(s)") {
		t.Fatalf("outputs past the limit: %d, %q", n, c.Outputs[1].PlainText())
	}
	// clear_output(wait) starts afresh with the next output.
	_ = r.Apply("clear_output", mustJSON(map[string]bool{"wait": true}))
	_ = r.Apply("stream", mustJSON(map[string]string{"name": "stdout", "text": "fresh\n"}))
	r.Flush()
	if len(c.Outputs) != 1 || c.Outputs[0].Text != "fresh\n" {
		t.Fatalf("after clear_output: %+v", c.Outputs)
	}
}

func TestRecorderWithinTheLimitIsApply(t *testing.T) {
	msgs := []struct{ typ, content string }{
		{"execute_input", `{"execution_count": 3, "code": "x"}`},
		{"stream", `{"name": "stdout", "text": "a"}`},
		{"stream", `{"name": "stdout", "text": "b\n"}`},
		{"display_data", `{"data": {"text/plain": "fig"}, "metadata": {}, "transient": {"display_id": "d1"}}`},
		{"update_display_data", `{"data": {"text/plain": "fig 2"}, "metadata": {}, "transient": {"display_id": "d1"}}`},
		{"stream", `{"name": "stderr", "text": "warn\n"}`},
		{"execute_result", `{"data": {"text/plain": "42"}, "metadata": {}, "execution_count": 3}`},
	}
	for _, limit := range []int{0, -1} {
		a, b := New(), New()
		ca, cb := a.AddCode("x"), b.AddCode("x")
		cb.ID = ca.ID
		r := NewRecorder(b, cb, limit, true)
		for _, m := range msgs {
			if err := a.Apply(ca, m.typ, json.RawMessage(m.content)); err != nil {
				t.Fatal(err)
			}
			if err := r.Apply(m.typ, json.RawMessage(m.content)); err != nil {
				t.Fatal(err)
			}
		}
		r.Flush()
		ja, _ := a.Marshal()
		jb, _ := b.Marshal()
		if string(ja) != string(jb) {
			t.Fatalf("limit %d: the recorder's cell differs from Apply's:\n%s\n%s", limit, ja, jb)
		}
	}
}
