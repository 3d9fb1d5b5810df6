package notebook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitLinesLikePython(t *testing.T) {
	// Expected values are Python's str.splitlines(keepends=True).
	cases := map[string][]string{
		"":               {},
		"a":              {"a"},
		"a\n":            {"a\n"},
		"a\nb":           {"a\n", "b"},
		"\n\n":           {"\n", "\n"},
		"a\r\nb\r\n":     {"a\r\n", "b\r\n"},
		"a\rb":           {"a\r", "b"},
		"a\r\r\nb":       {"a\r", "\r\n", "b"},
		"a\n\rb":         {"a\n", "\r", "b"},
		"a\vb\fc\x1cd":   {"a\v", "b\f", "c\x1c", "d"},
		"a\x1db\x1ec":    {"a\x1d", "b\x1e", "c"},
		"a\u0085b":       {"a\u0085", "b"},
		"a\u2028b\u2029": {"a\u2028", "b\u2029"},
		"é\nü":           {"é\n", "ü"},
	}
	for in, want := range cases {
		if got := splitLines(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
}

// tricky is a notebook with every text shape the writer must get right.
func tricky() *Notebook {
	nb := New()
	nb.SetKernel("python3", "Python 3 (ipykernel)", "python", json.RawMessage(
		`{"name":"python","version":"3.11.2","mimetype":"text/x-python","file_extension":".py",
		"pygments_lexer":"ipython3","codemirror_mode":{"name":"ipython","version":3},"nbconvert_exporter":"python"}`))
	nb.Metadata["custom"] = json.RawMessage(`{"z":1,"a":[1.0,2.5e-7,1e16,100000.0,-0.0,1E5,0.0001],"html":"<b>&amp;</b>","e":{}, "l":[]}`)
	nb.AddMarkdown("# Title\n\nSome <b>html</b> & text, ünïcødé, 日本語, emoji 🙂\u2028line sep\u2029para\u0085nel\x1cfs\vvt")
	nb.AddMarkdown("")
	c := nb.AddCode("print('a')\r\nprint('b')\r\n\r\n")
	c.Metadata["tags"] = json.RawMessage(`["x","y"]`)
	c.Metadata["execution"] = json.RawMessage(`{"iopub.status.busy":"2024-01-01T00:00:00.000001Z"}`)
	c.SetExecutionCount(1)
	mustApply(nb, c, "stream", `{"name":"stdout","text":"a\r\nb\n\nno newline"}`)
	mustApply(nb, c, "stream", `{"name":"stderr","text":"ctrl \u0000\u0001\u0008\u000c\u001b[31mred\u001b[0m\u007f tab\t\"quoted\" back\\slash"}`)
	mustApply(nb, c, "display_data", `{"data":{"image/png":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n",
		"text/plain":["<Figure size 640x480>"],"image/svg+xml":"<svg>\n<rect/>\n</svg>","application/javascript":"a();\nb();",
		"text/html":"<div>\n</div>\n"},"metadata":{"image/png":{"width":640,"height":480}},"transient":{"display_id":"abc"}}`)
	mustApply(nb, c, "execute_result", `{"data":{"text/plain":"{'a': 1}","application/json":{"a":1,"big":18446744073709551617,"s":"<&>"},
		"text/latex":"$x$\n"},"metadata":{"application/json":{"expanded":false,"root":"root"}},"execution_count":1}`)
	mustApply(nb, c, "error", `{"ename":"ValueError","evalue":"bad <value>","traceback":["\u001b[0;31m---\u001b[0m","line\nwith newline"]}`)
	empty := nb.AddCode("")
	_ = empty
	r := &Cell{ID: "raw-cell_1", Type: RawCell, Source: "raw\ntext", Metadata: map[string]json.RawMessage{"format": json.RawMessage(`"text/x-rst"`)}}
	nb.Cells = append(nb.Cells, r)
	att := nb.AddMarkdown("![img](attachment:a.png)")
	att.Attachments = json.RawMessage(`{"a.png":{"image/png":"iVBORw0KGgo=","text/plain":["one\n","two"]}}`)
	return nb
}

func mustApply(nb *Notebook, c *Cell, typ, content string) {
	if err := nb.Apply(c, typ, json.RawMessage(content)); err != nil {
		panic(err)
	}
}

func TestMarshalMatchesPythonNbformat(t *testing.T) {
	data := checkWritten(t, tricky())
	s := string(data)
	for _, bad := range []string{`\u003c`, `\u003e`, `\u0026`, `\u2028`, "transient"} {
		if strings.Contains(s, bad) {
			t.Errorf("written notebook contains %s", bad)
		}
	}
	for _, want := range []string{
		"{\n \"cells\": [\n  {\n   \"cell_type\": \"markdown\",", // indent 1, sorted keys
		`"print('a')\r\n",`,
		`"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\n"`,
		`"big": 18446744073709551617`,
		`"source": []`,
		"\n}\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("written notebook lacks %q", want)
		}
	}
}

func TestMarshalNewNotebook(t *testing.T) {
	data := checkWritten(t, New())
	const want = "{\n \"cells\": [],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 5\n}\n"
	if string(data) != want {
		t.Fatalf("empty notebook:\n%s\nwant:\n%s", data, want)
	}
}

func TestMarshalStripsTransientMetadata(t *testing.T) {
	nb := New()
	nb.Metadata["signature"] = json.RawMessage(`"sha256:x"`)
	nb.Metadata["orig_nbformat"] = json.RawMessage(`3`)
	c := nb.AddCode("")
	c.Metadata["trusted"] = json.RawMessage(`true`)
	data := checkWritten(t, nb)
	for _, k := range []string{"signature", "orig_nbformat", "trusted"} {
		if strings.Contains(string(data), k) {
			t.Errorf("%s written", k)
		}
	}
}

func TestMarshalRejectsInvalid(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(nb *Notebook)
		want   string
	}{
		{"bad id", func(nb *Notebook) { nb.Cells[0].ID = "a b" }, "id"},
		{"empty id", func(nb *Notebook) { nb.Cells[0].ID = "" }, "id"},
		{"long id", func(nb *Notebook) { nb.Cells[0].ID = strings.Repeat("a", 65) }, "id"},
		{"duplicate id", func(nb *Notebook) { nb.Cells[1].ID = nb.Cells[0].ID }, "same id"},
		{"cell type", func(nb *Notebook) { nb.Cells[0].Type = "heading" }, "unknown cell type"},
		{"code attachments", func(nb *Notebook) { nb.Cells[0].Attachments = json.RawMessage(`{}`) }, "attachments"},
		{"markdown outputs", func(nb *Notebook) { nb.Cells[1].Outputs = []*Output{{Type: StreamOutput}} }, "markdown cell cannot have outputs"},
		{"negative count", func(nb *Notebook) { nb.Cells[0].SetExecutionCount(-1) }, "negative"},
		{"output type", func(nb *Notebook) { nb.Cells[0].Outputs = []*Output{{Type: "pyout"}} }, "unknown output type"},
		{"stream name", func(nb *Notebook) { nb.Cells[0].Outputs = []*Output{{Type: StreamOutput, Text: "x"}} }, "name"},
		{"text mime not string", func(nb *Notebook) {
			nb.Cells[0].Outputs = []*Output{{Type: DisplayDataOutput, Data: map[string]json.RawMessage{"text/plain": json.RawMessage(`{}`)}}}
		}, `data["text/plain"]`},
		{"bad json mime", func(nb *Notebook) {
			nb.Cells[0].Outputs = []*Output{{Type: DisplayDataOutput, Data: map[string]json.RawMessage{"application/json": json.RawMessage(`{`)}}}
		}, `data["application/json"]`},
		{"bad metadata", func(nb *Notebook) { nb.Metadata["x"] = json.RawMessage(`nope`) }, "metadata"},
		{"nil cell", func(nb *Notebook) { nb.Cells = append(nb.Cells, nil) }, "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nb := New()
			nb.AddCode("x")
			nb.AddMarkdown("y")
			tc.break_(nb)
			_, err := nb.Marshal()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Marshal = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "session.ipynb")
	if err := os.WriteFile(path, []byte("old contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	nb := tricky()
	if err := nb.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := nb.Marshal()
	if string(got) != string(want) {
		t.Fatal("file differs from Marshal")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// A notebook that cannot be written leaves the old file alone.
	nb.Cells[0].ID = "bad id"
	if err := nb.WriteFile(path); err == nil {
		t.Fatal("invalid notebook written")
	}
	if again, _ := os.ReadFile(path); string(again) != string(want) {
		t.Error("failed write changed the file")
	}
	if err := New().WriteFile(filepath.Join(dir, "missing", "x.ipynb")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
}
