package notebook

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// oldNotebook is nbformat 4.minor as older Jupyter versions wrote it: no
// cell ids, multiline fields as lists, and transient metadata.
func oldNotebook(minor int) string {
	return fmt.Sprintf(`{
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Old\n", "notebook"]},
  {"cell_type": "code", "execution_count": 2, "metadata": {"trusted": true, "collapsed": false},
   "source": ["import numpy\n", "numpy.arange(3)"],
   "outputs": [
    {"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]},
    {"output_type": "execute_result", "execution_count": 2, "metadata": {},
     "data": {"text/plain": ["array([0,\n", " 1, 2])"], "image/png": ["iVBORw0K\n", "Ggo=\n"]}},
    {"output_type": "display_data", "metadata": {}, "data": {"application/json": {"n": 12345678901234567890123}}},
    {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["t1", "t2"]}
   ]},
  {"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": "single string"},
  {"cell_type": "raw", "metadata": {"format": "text/html"}, "source": "<p>"}
 ],
 "metadata": {"kernelspec": {"display_name": "Python 2", "language": "python", "name": "python2"},
              "signature": "sha256:abc", "orig_nbformat": 3},
 "nbformat": 4,
 "nbformat_minor": %d
}`, minor)
}

var hexID = regexp.MustCompile(`^[0-9a-f]{8}$`)

func TestReadOldMinorVersions(t *testing.T) {
	for minor := 0; minor <= 4; minor++ {
		t.Run(fmt.Sprintf("4.%d", minor), func(t *testing.T) {
			nb, err := Read(strings.NewReader(oldNotebook(minor)))
			if err != nil {
				t.Fatal(err)
			}
			if len(nb.Cells) != 4 {
				t.Fatalf("%d cells, want 4", len(nb.Cells))
			}
			seen := map[string]bool{}
			for i, c := range nb.Cells {
				if !hexID.MatchString(c.ID) || seen[c.ID] {
					t.Errorf("cell %d id %q: want a fresh, unique 8-hex id", i, c.ID)
				}
				seen[c.ID] = true
			}
			if nb.Cells[0].Source != "# Old\nnotebook" || nb.Cells[2].Source != "single string" {
				t.Errorf("sources %q, %q", nb.Cells[0].Source, nb.Cells[2].Source)
			}
			code := nb.Cells[1]
			if code.ExecutionCount == nil || *code.ExecutionCount != 2 || len(code.Outputs) != 4 {
				t.Fatalf("code cell %+v", code)
			}
			if code.Outputs[0].Text != "a\nb\n" {
				t.Errorf("stream text %q", code.Outputs[0].Text)
			}
			if got := code.Outputs[1].PlainText(); got != "array([0,\n 1, 2])" {
				t.Errorf("text/plain %q", got)
			}
			if _, ok := code.Metadata["trusted"]; ok {
				t.Error("trusted kept")
			}
			if _, ok := nb.Metadata["signature"]; ok {
				t.Error("signature kept")
			}
			data := checkWritten(t, nb) // 4.5, valid, canonical
			if !strings.Contains(string(data), `"image/png": "iVBORw0K\nGgo=\n"`) {
				t.Error("image/png not joined into one string")
			}
			if !strings.Contains(string(data), "12345678901234567890123") {
				t.Error("large integer changed")
			}
		})
	}
}

func TestReadRoundTripIsIdentity(t *testing.T) {
	want, err := tricky().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	nb, err := Read(strings.NewReader(string(want)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := nb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("read then write changed the notebook:\n%s", firstDiff(got, want))
	}
}

func TestReadFixesIDs(t *testing.T) {
	const src = `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
		{"cell_type": "markdown", "id": "keep-me_1", "metadata": {}, "source": "a"},
		{"cell_type": "markdown", "id": "keep-me_1", "metadata": {}, "source": "b"},
		{"cell_type": "markdown", "id": "has space", "metadata": {}, "source": "c"},
		{"cell_type": "markdown", "metadata": {}, "source": "d"},
		{"cell_type": "markdown", "id": "", "metadata": {}, "source": "e"}]}`
	nb, err := Read(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if nb.Cells[0].ID != "keep-me_1" {
		t.Errorf("first id %q, want it kept", nb.Cells[0].ID)
	}
	seen := map[string]bool{"keep-me_1": true}
	for i, c := range nb.Cells[1:] {
		if !hexID.MatchString(c.ID) || seen[c.ID] {
			t.Errorf("cell %d id %q, want a fresh id", i+1, c.ID)
		}
		seen[c.ID] = true
	}
	checkWritten(t, nb)
}

func TestReadRejects(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"not json", `{"nbformat": 4,`, "not a JSON notebook"},
		{"no nbformat", `{"cells": []}`, "no nbformat"},
		{"v3", `{"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}`, "nbformat 3 is not supported"},
		{"v5", `{"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}`, "nbformat 5 is not supported"},
		{"minor 6", `{"nbformat": 4, "nbformat_minor": 6, "cells": [], "metadata": {}}`, "4.6 is not supported"},
		{"no minor", `{"nbformat": 4, "cells": [], "metadata": {}}`, "nbformat_minor"},
		{"no cells", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}`, "no cells"},
		{"cell type", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "heading", "source": ""}]}`, `cell 0: unknown cell_type "heading"`},
		{"source type", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": 5, "outputs": []}]}`, "cell 0: source must be a string or a list of strings"},
		{"no source", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "raw"}]}`, "cell 0: no source"},
		{"output type", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "", "outputs": [{"output_type": "pyout"}]}]}`, `cell 0: output 0: unknown output_type "pyout"`},
		{"stream text", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "", "outputs": [{"output_type": "stream", "name": "stdout", "text": [1]}]}]}`, "text must be a string"},
		{"mime value", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": "", "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"text/html": 3}}]}]}`, `data["text/html"]`},
		{"negative count", `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "execution_count": -1, "source": "", "outputs": []}]}`, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.ipynb")
	if err := os.WriteFile(path, []byte(oldNotebook(4)), 0o644); err != nil {
		t.Fatal(err)
	}
	nb, err := ReadFile(path)
	if err != nil || len(nb.Cells) != 4 {
		t.Fatalf("ReadFile: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"nbformat": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v does not name the file", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none.ipynb")); err == nil {
		t.Error("missing file read")
	}
}
