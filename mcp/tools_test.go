package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/notebook/nbtest"
)

// TestTools drives every tool through a real MCP client against one real
// local sandbox (the machine has few cores: one sandbox, many subtests).
func TestTools(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	m := newManager(t)
	var progress atomic.Int64
	srv := New(m, Options{Provider: "local", Python: py, ProgressEvery: 200 * time.Millisecond})
	c := connect(t, srv, &sdk.ClientOptions{ProgressNotificationHandler: func(context.Context, *sdk.ProgressNotificationClientRequest) {
		progress.Add(1)
	}})

	skill := filepath.Join(t.TempDir(), "probe")
	os.MkdirAll(skill, 0o755)
	os.WriteFile(filepath.Join(skill, "SKILL.md"), []byte("---\nname: probe\ndescription: Linear probes on activations.\n---\n# Probe\n"), 0o644)
	os.WriteFile(filepath.Join(skill, "probe_lib.py"), []byte("def fit():\n    return 'fitted'\n"), 0o644)
	t.Setenv("SENA_TEST_SECRET", "s3cret-value")

	var info SessionInfo
	c.structured("start_session", map[string]any{
		"workspace": map[string]any{
			"skills":    []string{skill},
			"libraries": []map[string]any{{"name": "helpers.py", "code": "def double(x):\n    return 2 * x\n"}},
		},
		"secrets": []string{"SENA_TEST_SECRET"},
		"env":     map[string]string{"SENA_GREETING": "hi"},
	}, &info)
	id := info.SessionID
	t.Cleanup(func() { m.Down(context.Background(), id) })
	if id == "" || !strings.Contains(info.JupyterURL, "token=") || info.NotebookPath == "" || info.Provider != "local" {
		t.Fatalf("start_session returned %+v", info)
	}
	if len(info.Skills) != 1 || info.Skills[0].Description != "Linear probes on activations." {
		t.Fatalf("skills: %+v", info.Skills)
	}
	parent := c
	// nbBytes is the notebook as saved: a refused call must leave it as it was.
	nbBytes := func(t *testing.T) []byte {
		data, err := os.ReadFile(info.NotebookPath)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	cells := func(t *testing.T) *notebook.Notebook {
		nb, err := notebook.ReadFile(info.NotebookPath)
		if err != nil {
			t.Fatal(err)
		}
		return nb
	}

	t.Run("attached_at_once", func(t *testing.T) {
		c := parent.with(t)
		var l SessionList
		c.structured("list_sessions", map[string]any{}, &l)
		if len(l.Sessions) != 1 || l.Sessions[0].SessionID != id || !l.Sessions[0].Attached || l.Sessions[0].Status != "running" {
			t.Fatalf("right after start_session, list_sessions says %+v; want it running and attached", l.Sessions)
		}
	})
	t.Run("list_libraries", func(t *testing.T) {
		var l LibraryList
		parent.with(t).structured("list_libraries", map[string]any{"session_id": id}, &l)
		if len(l.Libraries) != 1 || l.Libraries[0].Module != "helpers" || len(l.Libraries[0].Members) != 1 || l.Libraries[0].Members[0].Signature != "double(x)" {
			t.Fatalf("list_libraries: %+v", l)
		}
	})
	t.Run("list_skills", func(t *testing.T) {
		c := parent.with(t)
		var l SkillList
		c.structured("list_skills", map[string]any{"session_id": id}, &l)
		if len(l.Skills) != 1 || l.Skills[0].Name != "probe" || l.Skills[0].Path != "skills/probe" {
			t.Fatalf("list_skills: %+v", l)
		}
		raw := c.ok("list_skills", map[string]any{"session_id": id})
		if strings.Contains(raw, `\u003c`) || !strings.Contains(raw, "read_file(path='<path>/SKILL.md')") {
			t.Fatalf("list_skills text is HTML-escaped or lacks the usage: %s", raw)
		}
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "import probe_lib, helpers\nprint(probe_lib.fit(), helpers.double(21))"}), "fitted 42")
	})
	t.Run("execute_prints", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "import os, sys\nprint('hello')\nprint('warn', file=sys.stderr)\nprint(os.environ['SENA_GREETING'], len(os.environ['SENA_TEST_SECRET']))\n'done'")
		if res.IsError {
			t.Fatal(text(res))
		}
		got := text(res)
		contains(t, got, "[ok] cell ", " · execution_count=", "hello\n", "warn\n", "hi 12", "'done'")
		i, cid := cellID(t, got)
		if nb := cells(t); nb.Cells[i].ID != cid || !strings.Contains(nb.Cells[i].Source, "print('hello')") {
			t.Fatalf("the status line names cell %d (id %s), which is not the cell that ran", i, cid)
		}
		if !statusTime.MatchString(strings.SplitN(got, "\n", 2)[0]) {
			t.Fatalf("status line has no elapsed time: %q", got)
		}
	})
	t.Run("researchers_cells", func(t *testing.T) {
		// The researcher adds and runs a cell in JupyterLab (a page without
		// real-time collaboration saves its copy whole): the agent's tools
		// see it and address it by its id.
		c := parent.with(t)
		rec, err := m.Store().Get(id)
		if err != nil {
			t.Fatal(err)
		}
		token, err := m.Store().Token(id)
		if err != nil {
			t.Fatal(err)
		}
		u := strings.TrimSuffix(rec.Endpoint.URL, "/") + "/api/contents/" + url.PathEscape(rec.Notebook)
		api := func(method string, body, out any) {
			data, _ := json.Marshal(body)
			req, _ := http.NewRequest(method, u+"?type=notebook&content=1", bytes.NewReader(data))
			req.Header.Set("Authorization", "token "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s %s: HTTP %d", method, u, resp.StatusCode)
			}
			if out != nil {
				_ = json.NewDecoder(resp.Body).Decode(out)
			}
		}
		var model map[string]any
		api(http.MethodGet, nil, &model)
		content := model["content"].(map[string]any)
		content["cells"] = append(content["cells"].([]any), map[string]any{"cell_type": "code", "id": "researcher1", "metadata": map[string]any{},
			"source": "page_var = 7\nprint('from the page')", "execution_count": 50,
			"outputs": []any{map[string]any{"output_type": "stream", "name": "stdout", "text": "from the page\n"}}})
		api(http.MethodPut, map[string]any{"type": "notebook", "format": "json", "content": content}, nil)
		contains(t, c.ok("get_notebook_outputs", map[string]any{"session_id": id, "start": -1}), "id researcher1", "page_var = 7", "from the page")
		contains(t, c.ok("run_cell", map[string]any{"session_id": id, "cell": "researcher1"}), "(id researcher1)", "from the page")
		contains(t, text(c.exec(id, "print(page_var * 6)")), "42")
	})
	t.Run("execute_empty", func(t *testing.T) {
		c := parent.with(t)
		before := len(cells(t).Cells)
		c.fails("execute_code", map[string]any{"session_id": id, "code": "  \n"}, "empty")
		if after := len(cells(t).Cells); after != before {
			t.Fatalf("execute_code(\"\") changed the notebook from %d to %d cells", before, after)
		}
	})
	t.Run("execute_raises", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "def f():\n    return 1 / 0\nf()")
		if res.IsError {
			t.Fatalf("an exception in user code must be a result, not a tool error: %s", text(res))
		}
		contains(t, text(res), "[error: ZeroDivisionError] cell ", "ZeroDivisionError: division by zero", "return 1 / 0")
		if strings.Contains(text(res), "\x1b") {
			t.Fatalf("ANSI codes in the result: %q", text(res))
		}
	})
	t.Run("budget_and_read_output", func(t *testing.T) {
		c := parent.with(t)
		got := text(c.exec(id, "print('HEAD'); print('x' * 100000); print('TAIL')"))
		if n := utf8.RuneCountInString(got); n > 20400 {
			t.Fatalf("result is %d characters, over the budget", n)
		}
		_, cid := cellID(t, got)
		contains(t, got, "HEAD", "TAIL", "characters cut (output 0, characters 14000 to ", fmt.Sprintf(`read_output(cell=%q, output=0, offset=14000)`, cid))
		page := c.ok("read_output", map[string]any{"session_id": id, "cell": cid, "output": 0, "offset": 14000, "length": 1000})
		contains(t, page, "output 0 (stream stdout): characters 14000 to 15000 of 100011", "offset=15000")
		if n := strings.Count(page, "x"); n < 1000 {
			t.Fatalf("page has %d x's, want 1000:\n%s", n, page)
		}
		// The end: offset past the last page ends the paging.
		last := c.ok("read_output", map[string]any{"session_id": id, "cell": -1, "offset": 99990})
		contains(t, last, "of 100011", "TAIL")
		if strings.Contains(last, "characters more") {
			t.Fatalf("the last page says there is more:\n%s", last)
		}
		c.fails("read_output", map[string]any{"session_id": id, "cell": cid, "offset": 200000}, "past the end")
		c.fails("read_output", map[string]any{"session_id": id, "cell": cid, "output": 3}, "has 1 outputs (0 to 0)")
		c.fails("read_output", map[string]any{"session_id": id, "cell": "zzzz9999"}, `no cell has id "zzzz9999"`)
		c.fails("read_output", map[string]any{"session_id": id, "cell": cid, "mime": "image/png"}, "only text")
	})
	t.Run("budget_counts_characters", func(t *testing.T) {
		c := parent.with(t)
		got := text(c.exec(id, "print('é' * 50000)"))
		if n := utf8.RuneCountInString(got); n < 19000 || n > 20400 {
			t.Fatalf("a budget of 20000 characters gave %d characters (%d bytes)", n, len(got))
		}
	})
	t.Run("progress_bars_collapse", func(t *testing.T) {
		c := parent.with(t)
		got := text(c.exec(id, "for i in range(5):\n    print(f'\\r{i*25}%', end='')\nprint()"))
		if strings.Contains(got, "25%") || !strings.Contains(got, "100%") {
			t.Fatalf("\\r updates not collapsed: %q", got)
		}
	})
	t.Run("images", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, pngCode(5, 2000, 1000))
		imgs := images(res)
		if len(imgs) != 4 {
			t.Fatalf("%d images, want 4 (the cap):\n%s", len(imgs), text(res))
		}
		for _, img := range imgs {
			if img.MIMEType != "image/png" || !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
				t.Fatalf("image %s starts %q: not raw PNG bytes", img.MIMEType, img.Data[:8])
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(img.Data))
			if err != nil || cfg.Width != 1568 || cfg.Height != 784 {
				t.Fatalf("image is %dx%d (%v), want 1568x784", cfg.Width, cfg.Height, err)
			}
		}
		_, cid := cellID(t, text(res))
		contains(t, text(res), "scaled down from 2000x1000", "1 more images not attached", fmt.Sprintf("read_output(cell=%q, output=4) fetches it", cid))
		fifth := c.call("read_output", map[string]any{"session_id": id, "cell": cid, "output": 4})
		if fifth.IsError || len(images(fifth)) != 1 {
			t.Fatalf("read_output of an image: %s", text(fifth))
		}
		contains(t, text(fifth), "image/png", "scaled down from 2000x1000")
	})
	t.Run("images_never_grow", func(t *testing.T) {
		// Just over the edge, a plot's resampled copy compresses worse
		// than the original (1597x813: 30 KB became 76 KB): the original
		// must be sent instead.
		c := parent.with(t)
		res := c.exec(id, "import io, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfrom IPython.display import Image, display\n"+
			"import numpy as np\nfig = plt.figure(figsize=(15.97, 8.13), dpi=100)\nx = np.linspace(0, 10, 400)\n"+
			"for k in range(6): plt.plot(x, np.sin(x * k) + k, label=str(k))\nplt.legend(); plt.grid(True); plt.title('dense')\n"+
			"buf = io.BytesIO(); fig.savefig(buf, format='png', dpi=100); plt.close(fig)\ndisplay(Image(data=buf.getvalue(), format='png'))")
		imgs := images(res)
		if len(imgs) != 1 {
			t.Fatalf("want one image: %s", text(res))
		}
		contains(t, text(res), "1597x813, sent as is: scaled to 1568 px it would have been larger")
		nb := cells(t)
		raw, _ := str(nb.Cells[len(nb.Cells)-1].Outputs[0].Data["image/png"])
		orig, _ := decodeBase64(raw)
		if len(imgs[0].Data) > len(orig) {
			t.Fatalf("the image sent is %d bytes, the original %d: scaling made it larger", len(imgs[0].Data), len(orig))
		}
	})
	t.Run("html_svg_summarised", func(t *testing.T) {
		c := parent.with(t)
		got := text(c.exec(id, "from IPython.display import HTML, SVG, display\ndisplay(HTML('<b>bold</b>'))\ndisplay(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))"))
		contains(t, got, "[HTML output, 11 characters: read_output(", `mime="text/html") reads it]`, "[SVG image, ")
		_, cid := cellID(t, got)
		contains(t, c.ok("read_output", map[string]any{"session_id": id, "cell": cid, "output": 0}), "<b>bold</b>")
		contains(t, c.ok("read_output", map[string]any{"session_id": id, "cell": cid, "output": 1, "mime": "image/svg+xml"}), "<svg")
		c.fails("read_output", map[string]any{"session_id": id, "cell": cid, "output": 0, "mime": "application/pdf"}, "has no application/pdf; it has text/html")
	})
	t.Run("add_markdown", func(t *testing.T) {
		c := parent.with(t)
		var r MarkdownResult
		c.structured("add_markdown", map[string]any{"session_id": id, "content": "## Findings\nIt works."}, &r)
		nb := cells(t)
		if r.CellNumber != len(nb.Cells)-1 || nb.Cells[r.CellNumber].ID != r.CellID || r.NotebookPath != info.NotebookPath {
			t.Fatalf("add_markdown: %+v", r)
		}
	})
	t.Run("cell_surgery", func(t *testing.T) {
		c := parent.with(t)
		// An error report names the cell; the fix lands in that cell, not another.
		bad := text(c.exec(id, "print(undefined_name + 1)"))
		contains(t, bad, "[error: NameError]")
		badIndex, badID := cellID(t, bad)
		contains(t, c.ok("add_markdown", map[string]any{"session_id": id, "content": "after the bad cell"}), "cell_id")
		fixed := c.ok("edit_cell", map[string]any{"session_id": id, "cell": badID, "source": "undefined_name = 41\nprint(undefined_name + 1)"})
		contains(t, fixed, "[ok] "+fmt.Sprintf("cell %d (id %s)", badIndex, badID), "42")
		nb := cells(t)
		if nb.Cells[badIndex].ID != badID || !strings.Contains(nb.Cells[badIndex].Source, "undefined_name = 41") ||
			nb.Cells[badIndex+1].Source != "after the bad cell" {
			t.Fatalf("edit_cell changed the wrong cell: %+v", nb.Cells[badIndex:])
		}
		// The same cell by index, counting every cell (markdown too).
		contains(t, c.ok("edit_cell", map[string]any{"session_id": id, "cell": badIndex, "source": "print('by index')"}), "by index", badID)
		contains(t, c.ok("edit_cell", map[string]any{"session_id": id, "cell": fmt.Sprint(badIndex), "source": "print('index as a string')"}), "index as a string", badID)
		// Editing without running leaves no stale outputs.
		contains(t, c.ok("edit_cell", map[string]any{"session_id": id, "cell": badID, "source": "print('later')", "run": false}), "[saved, not run: run_cell runs it]", badID)
		if nb := cells(t); len(nb.Cells[badIndex].Outputs) != 0 || nb.Cells[badIndex].ExecutionCount != nil {
			t.Fatalf("edit_cell run=false kept outputs or a count: %+v", nb.Cells[badIndex])
		}
		contains(t, c.ok("run_cell", map[string]any{"session_id": id, "cell": badID}), "[ok] "+fmt.Sprintf("cell %d (id %s)", badIndex, badID), "later")
		// Markdown cells take text and never run.
		mdIndex := badIndex + 1
		contains(t, c.ok("edit_cell", map[string]any{"session_id": id, "cell": mdIndex, "source": "## Edited note"}), "[markdown cell saved]")
		// Insert a setup cell above the cell that needs it, run it, run the other again.
		needs := text(c.exec(id, "print(setup_value * 2)"))
		needIndex, needID := cellID(t, needs)
		ins := c.ok("insert_cell", map[string]any{"session_id": id, "source": "setup_value = 21", "before": needID, "run": true})
		contains(t, ins, "[ok] "+fmt.Sprintf("cell %d", needIndex))
		_, insID := cellID(t, ins)
		contains(t, c.ok("run_cell", map[string]any{"session_id": id, "cell": needID}), "42", fmt.Sprintf("cell %d (id %s)", needIndex+1, needID))
		md := c.ok("insert_cell", map[string]any{"session_id": id, "source": "# Setup", "cell_type": "markdown", "before": insID})
		contains(t, md, "[markdown cell saved] "+fmt.Sprintf("cell %d", needIndex))
		_, mdID := cellID(t, md)
		unrun := c.ok("insert_cell", map[string]any{"session_id": id, "source": "print('not yet')", "after": -1})
		contains(t, unrun, "[saved, not run: run_cell runs it]")
		_, unrunID := cellID(t, unrun)
		// Move the markdown to the end, then delete the unrun cell.
		contains(t, c.ok("move_cell", map[string]any{"session_id": id, "cell": mdID, "after": -1}), "[moved] cell "+mdID)
		nb = cells(t)
		if nb.Cells[len(nb.Cells)-1].ID != mdID || nb.Cells[len(nb.Cells)-2].ID != unrunID {
			t.Fatalf("move_cell after=-1 did not move it to the end")
		}
		contains(t, c.ok("move_cell", map[string]any{"session_id": id, "cell": mdID, "before": insID}), "to index "+fmt.Sprint(needIndex))
		contains(t, c.ok("delete_cell", map[string]any{"session_id": id, "cell": unrunID}), "[deleted] cell ", unrunID)
		if c, _ := cells(t).CellByID(unrunID); c != nil {
			t.Fatal("delete_cell left the cell")
		}

		// Refused calls leave the notebook as it was, with the next step.
		before := nbBytes(t)
		for _, bad := range []struct {
			tool string
			args map[string]any
			want string
		}{
			{"edit_cell", map[string]any{"cell": "nope1234", "source": "1"}, `no cell has id "nope1234"`},
			{"edit_cell", map[string]any{"cell": 9999, "source": "1"}, "out of range: the notebook has"},
			{"edit_cell", map[string]any{"cell": badID, "source": ""}, "empty"},
			{"edit_cell", map[string]any{"cell": badID, "code": "1"}, "code"}, // the old argument name
			{"edit_cell", map[string]any{"cell_index": 0, "source": "1"}, "cell"},
			{"run_cell", map[string]any{"cell": mdID}, "only code cells run"},
			{"run_cell", map[string]any{"cell": -9999}, "out of range"},
			{"insert_cell", map[string]any{"source": "1", "before": 0, "after": 1}, "not both"},
			{"insert_cell", map[string]any{"source": "1", "before": "nope1234"}, "before: no such cell"},
			{"insert_cell", map[string]any{"source": "1", "cell_type": "raw"}, "want code or markdown"},
			{"insert_cell", map[string]any{"source": "x", "cell_type": "markdown", "run": true}, "cannot run"},
			{"delete_cell", map[string]any{"cell": 9999}, "out of range"},
			{"move_cell", map[string]any{"cell": 0}, "before or after"},
			{"move_cell", map[string]any{"cell": 0, "after": "nope1234"}, "after: no such cell"},
			{"edit_cell", map[string]any{"cell": true, "source": "1"}, "cell"},
		} {
			bad.args["session_id"] = id
			c.fails(bad.tool, bad.args, bad.want)
		}
		if !bytes.Equal(before, nbBytes(t)) {
			t.Fatal("a refused call changed the notebook")
		}
		nbtest.Validate(t, info.NotebookPath)
	})
	t.Run("get_notebook_outputs", func(t *testing.T) {
		c := parent.with(t)
		got := c.ok("get_notebook_outputs", map[string]any{"session_id": id})
		contains(t, got, "## Findings", "ZeroDivisionError", "--- cell 0 · id ", " · code · execution_count=", `[image/png image: not attached here; read_output(cell=`)
		nb := cells(t)
		last := nb.Cells[len(nb.Cells)-1]
		tail := c.ok("get_notebook_outputs", map[string]any{"session_id": id, "start": -1})
		contains(t, tail, fmt.Sprintf("--- cell %d · id %s ·", len(nb.Cells)-1, last.ID))
		withImages := c.call("get_notebook_outputs", map[string]any{"session_id": id, "include_images": true})
		if n := len(images(withImages)); n != 4 {
			t.Fatalf("include_images: %d images, want 4", n)
		}
		c.fails("get_notebook_outputs", map[string]any{"session_id": id, "start": 500}, "out of range")
	})
	t.Run("files", func(t *testing.T) {
		c := parent.with(t)
		contains(t, c.ok("write_file", map[string]any{"session_id": id, "path": "data/notes.txt", "content": "línea uno\nline two\n"}), "[written] data/notes.txt: 20 bytes")
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "print(open('data/notes.txt').read().splitlines()[0])"}), "línea uno")
		// A file a cell writes is readable at once.
		c.ok("execute_code", map[string]any{"session_id": id, "code": "import json\njson.dump({'acc': [0.5, 0.75]}, open('data/metrics.json', 'w'))\n" +
			"open('data/big.txt', 'w').write('y' * 50000)\nopen('data/blob.bin', 'wb').write(bytes(range(256)))"})
		contains(t, c.ok("read_file", map[string]any{"session_id": id, "path": "data/metrics.json"}), `{"acc": [0.5, 0.75]}`)
		ls := c.ok("list_files", map[string]any{"session_id": id, "path": "data"})
		contains(t, ls, "data (4 entries)", "notes.txt  20B", "metrics.json", "big.txt  48.8KiB")
		root := c.ok("list_files", map[string]any{"session_id": id})
		contains(t, root, "data/", "skills/", "lib/", id+".ipynb")
		page := c.ok("read_file", map[string]any{"session_id": id, "path": "data/big.txt", "offset": 49000})
		contains(t, page, "characters 49000 to 50000 of 50000")
		first := c.ok("read_file", map[string]any{"session_id": id, "path": "data/big.txt"})
		contains(t, first, "characters 0 to 20000 of 50000", `read_file(path="data/big.txt", offset=20000)`)
		c.fails("read_file", map[string]any{"session_id": id, "path": "data/blob.bin"}, "binary file")
		b64 := c.ok("read_file", map[string]any{"session_id": id, "path": "data/blob.bin", "encoding": "base64"})
		if want := base64.StdEncoding.EncodeToString(rangeBytes()); !strings.Contains(b64, want) {
			t.Fatalf("base64 read: %s", b64)
		}
		png := c.exec(id, pngCode(1, 40, 20)+"open('data/dot.png', 'wb').write(_png)")
		if png.IsError {
			t.Fatal(text(png))
		}
		img := c.call("read_file", map[string]any{"session_id": id, "path": "data/dot.png"})
		if img.IsError || len(images(img)) != 1 || !strings.Contains(text(img), "image/png, 40x20") {
			t.Fatalf("read_file of a PNG: %s", text(img))
		}
		bin := base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255})
		contains(t, c.ok("write_file", map[string]any{"session_id": id, "path": "data/w.bin", "content": bin, "encoding": "base64"}), "4 bytes")
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "print(list(open('data/w.bin', 'rb').read()))"}), "[0, 1, 2, 255]")
		for _, bad := range []struct {
			tool string
			args map[string]any
			want string
		}{
			{"read_file", map[string]any{"path": "../outside.txt"}, "leaves the sandbox's work dir"},
			{"read_file", map[string]any{"path": "/etc/passwd"}, "outside the sandbox's work dir"},
			{"write_file", map[string]any{"path": "a/../../x", "content": "x"}, "leaves the sandbox's work dir"},
			{"read_file", map[string]any{"path": "data/nope.txt"}, "list_files shows what is there"},
			{"read_file", map[string]any{"path": "data"}, "is a directory"},
			{"list_files", map[string]any{"path": "data/notes.txt"}, "not a directory"},
			{"list_files", map[string]any{"path": "nowhere"}, "no directory"},
			{"write_file", map[string]any{"path": id + ".ipynb", "content": "{}"}, "this session's notebook"},
			{"write_file", map[string]any{"path": "data", "content": "x"}, "is a directory"},
			{"write_file", map[string]any{"path": "x.bin", "content": "not base64!", "encoding": "base64"}, "not valid base64"},
			{"read_file", map[string]any{"path": "data/notes.txt", "encoding": "utf-16"}, "want text or base64"},
		} {
			bad.args["session_id"] = id
			c.fails(bad.tool, bad.args, bad.want)
		}
		// An absolute path inside the work dir is taken relative to it.
		rec, _ := m.Store().Get(id)
		contains(t, c.ok("read_file", map[string]any{"session_id": id, "path": rec.Endpoint.WorkDir + "/data/notes.txt"}), "line two")
	})
	t.Run("list_variables", func(t *testing.T) {
		c := parent.with(t)
		c.ok("execute_code", map[string]any{"session_id": id, "code": "counts = {'a': 1, 'b': 2}\nname = 'probe run'\nn_layers = 12\nimport numpy as np\nacts = np.arange(12, dtype='float32').reshape(3, 4)"})
		before := len(cells(t).Cells)
		got := c.ok("list_variables", map[string]any{"session_id": id})
		contains(t, got, "counts: dict len 2, keys 'a', 'b'", "name: str len 9: 'probe run'", "n_layers: int 12",
			"acts: numpy.ndarray shape=[3 4] float32 cpu 48B min=0 max=11 mean=5.5", "first=[0 1 2 3 4]", "imported modules not listed")
		if after := len(cells(t).Cells); after != before {
			t.Fatal("list_variables added a cell")
		}
		contains(t, c.ok("list_variables", map[string]any{"session_id": id, "name": "n_layers"}), "n_layers: int 12")
		c.fails("list_variables", map[string]any{"session_id": id, "name": "nope"}, "no variable named 'nope'")
		// Nothing leaked into the namespace or the history.
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "print(sorted(k for k in globals() if 'sena' in k.lower()), [h for h in In if 'b64' + 'decode(' in h])"}), "[] []")
	})
	t.Run("gpu_status", func(t *testing.T) {
		if _, err := exec.LookPath("nvidia-smi"); err == nil {
			t.Skip("this machine has nvidia-smi: the CPU case is not what it sees")
		}
		c := parent.with(t)
		got := c.ok("gpu_status", map[string]any{"session_id": id})
		contains(t, got, "no GPU: this is a CPU-only sandbox", "host memory: ", "the kernel uses ")
	})
	t.Run("describe_model", func(t *testing.T) {
		c := parent.with(t)
		if exec.Command(py, "-c", "import torch, transformers").Run() != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI: %s lacks torch/transformers", py)
			}
			t.Skip("no torch/transformers in " + py)
		}
		c.ok("execute_code", map[string]any{"session_id": id, "code": "import torch\nfrom transformers import LlamaConfig, LlamaForCausalLM\n" +
			"model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1)).eval()\n" +
			"x = torch.ones(2, 3)", "timeout": 300})
		got := c.ok("describe_model", map[string]any{"session_id": id})
		contains(t, got, "model: LlamaForCausalLM · ", "config: model_type=llama, hidden_size=16, num_hidden_layers=3",
			"layers.0-2: LlamaDecoderLayer ×3", "q_proj: Linear(16→16, no bias)", "hook points: decoder layers model.model.layers[0..2]",
			"final norm: model.model.norm", "unembedding: model.lm_head")
		contains(t, c.ok("describe_model", map[string]any{"session_id": id, "variable": "model.model.layers.1", "depth": 1}), "self_attn: LlamaAttention", "submodules: describe_model(")
		contains(t, c.ok("list_variables", map[string]any{"session_id": id}), "model: transformers.LlamaForCausalLM 8.05K params on cpu, float32", "x: torch.Tensor shape=[2 3] float32 cpu 24B min=1 max=1 mean=1 std=0")
		c.fails("describe_model", map[string]any{"session_id": id, "variable": "x"}, "x is a torch.Tensor, not a torch.nn.Module")
		c.fails("describe_model", map[string]any{"session_id": id, "variable": "nope"}, "no variable named 'nope'")
		c.fails("describe_model", map[string]any{"session_id": id, "variable": "model.nothing"}, "has no attribute 'nothing'")
	})
	t.Run("install_packages", func(t *testing.T) {
		c := parent.with(t)
		whl := "senaprobe-0.1-py3-none-any.whl"
		c.ok("write_file", map[string]any{"session_id": id, "path": "wheels/" + whl, "encoding": "base64",
			"content": base64.StdEncoding.EncodeToString(wheel(t, "senaprobe", "0.1", "VALUE = 42\n"))})
		before := progress.Load()
		p := &sdk.CallToolParams{Name: "install_packages", Arguments: map[string]any{"session_id": id, "requirements": []string{"./wheels/" + whl}}}
		p.SetProgressToken("pip")
		res := c.callWith(p)
		if res.IsError {
			t.Fatal(text(res))
		}
		contains(t, text(res), "[ok] installed senaprobe-0.1 into ", "sena.installed_packages")
		if progress.Load() == before {
			t.Error("no progress while pip ran")
		}
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "import senaprobe; print(senaprobe.VALUE)"}), "42")
		if got := cells(t).Metadata["sena"]; !strings.Contains(string(got), whl) {
			t.Fatalf("notebook metadata.sena = %s; want the requirement recorded", got)
		}
		var info2 SessionInfo
		c.structured("attach_to_session", map[string]any{"session_id": id}, &info2)
		if len(info2.Installed) != 1 {
			t.Fatalf("attach_to_session lists installed packages %v", info2.Installed)
		}
		c.fails("install_packages", map[string]any{"session_id": id, "requirements": []string{}}, "at least one requirement")
		c.fails("install_packages", map[string]any{"session_id": id, "requirements": []string{"--index-url=http://evil"}}, "not pip options")
		c.fails("install_packages", map[string]any{"session_id": id, "requirements": []string{"./wheels/missing-0.1-py3-none-any.whl"}}, "pip exited with status")
	})
	t.Run("timeout_interrupts", func(t *testing.T) {
		c := parent.with(t)
		start := time.Now()
		got := text(c.exec(id, "import time\nprint('before', flush=True)\ntime.sleep(60)", "timeout", 1.5))
		contains(t, got, "[interrupted after", "before")
		if time.Since(start) > 30*time.Second {
			t.Fatalf("timeout took %s", time.Since(start))
		}
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "print('alive')"}), "alive")
	})
	t.Run("interrupt_kernel_and_busy", func(t *testing.T) {
		c := parent.with(t)
		done := make(chan string, 1)
		go func() {
			res, err := c.cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "execute_code",
				Arguments: map[string]any{"session_id": id, "code": "import time\ntime.sleep(60)"}})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- text(res)
		}()
		time.Sleep(time.Second)
		// Kernel-state tools do not queue behind a long cell.
		c.fails("list_variables", map[string]any{"session_id": id}, "is running a cell")
		for i := 0; ; i++ {
			select {
			case got := <-done:
				contains(t, got, "[error: KeyboardInterrupt]")
				return
			case <-time.After(time.Second):
			}
			if i > 20 {
				t.Fatal("execute_code did not stop after interrupts")
			}
			c.ok("interrupt_kernel", map[string]any{"session_id": id})
		}
	})
	t.Run("progress", func(t *testing.T) {
		c := parent.with(t)
		before := progress.Load()
		p := &sdk.CallToolParams{Name: "execute_code", Arguments: map[string]any{"session_id": id, "code": "import time; time.sleep(1.5)"}}
		p.SetProgressToken("tok")
		if res := c.callWith(p); res.IsError {
			t.Fatal(text(res))
		}
		if progress.Load() == before {
			t.Fatal("no progress notification during a 1.5s cell")
		}
	})
	t.Run("one_session_serialised", func(t *testing.T) {
		c := parent.with(t)
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res := c.exec(id, "import time; time.sleep(1)"); res.IsError {
					t.Error(text(res))
				}
			}()
		}
		wg.Wait()
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("two 1s cells on one session finished in %s: they overlapped", d)
		}
	})
	t.Run("restart_kernel", func(t *testing.T) {
		c := parent.with(t)
		c.ok("execute_code", map[string]any{"session_id": id, "code": "kept = 1"})
		contains(t, c.ok("restart_kernel", map[string]any{"session_id": id}), "restarted")
		got := text(c.exec(id, "kept"))
		contains(t, got, "[error: NameError]")
		if strings.Contains(got, "[note:") {
			t.Fatalf("restart_kernel said it restarted; the next call says it again:\n%s", got)
		}
		// The workspace and installed packages come back with the kernel.
		contains(t, text(c.exec(id, "import helpers, senaprobe; print(helpers.double(2), senaprobe.VALUE)")), "4 42")
	})
	t.Run("restart_during_a_cell", func(t *testing.T) {
		c := parent.with(t)
		done := make(chan string, 1)
		go func() { done <- text(c.exec(id, "import time\nprint('started', flush=True)\ntime.sleep(60)")) }()
		time.Sleep(1500 * time.Millisecond)
		c.ok("restart_kernel", map[string]any{"session_id": id})
		got := <-done
		contains(t, got, "[kernel died: its variables are gone]", "KernelDied: the kernel was restarted on request", "started")
	})
	t.Run("kernel_death", func(t *testing.T) {
		c := parent.with(t)
		c.ok("execute_code", map[string]any{"session_id": id, "code": "doomed = 1"})
		res := c.exec(id, "import os, time\nprint('last words', flush=True)\ntime.sleep(0.5)\nos._exit(1)")
		got := text(res)
		if res.IsError {
			t.Fatalf("a kernel death is written into the cell, as a result: %s", got)
		}
		contains(t, got, "[kernel died: its variables are gone] cell ", "KernelDied: the kernel died ", "No fatal signal was recorded", `last output before that: "last words"`)
		i, cid := cellID(t, got)
		nb := cells(t)
		outs := nb.Cells[i].Outputs
		if nb.Cells[i].ID != cid || len(outs) != 2 || outs[1].EName != "KernelDied" || outs[0].Text != "last words\n" {
			t.Fatalf("the cell does not record the death: %+v", outs)
		}
		next := text(c.exec(id, "print('doomed' in globals())"))
		contains(t, next, "[note: the kernel restarted during an earlier call (cell "+cid+")", "[ok]", "False")
		if again := text(c.exec(id, "print(1)")); strings.Contains(again, "[note:") {
			t.Fatalf("the notice is said twice:\n%s", again)
		}
		// A crash in native code leaves Python's fault report.
		segv := text(c.exec(id, "import ctypes\nctypes.string_at(0)"))
		contains(t, segv, "[kernel died", "faulthandler wrote", "Segmentation fault")
		contains(t, text(c.exec(id, "import helpers; print(helpers.double(5))")), "10")
	})
	t.Run("restart_from_outside", func(t *testing.T) {
		// Someone restarts the kernel in JupyterLab: the next call says so.
		c := parent.with(t)
		rec, _ := m.Store().Get(id)
		token, _ := m.Store().Token(id)
		ks, err := kernel.NewServer(rec.Endpoint.URL, token)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.RestartKernel(context.Background(), rec.KernelID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			got = c.ok("list_variables", map[string]any{"session_id": id})
			if strings.Contains(got, "[note:") {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		contains(t, got, "[note: the kernel restarted since the last call")
		contains(t, text(c.exec(id, "import helpers; print(helpers.double(6))")), "12")
	})
	t.Run("resources", func(t *testing.T) {
		c := parent.with(t)
		ctx := context.Background()
		tmpl, err := c.cs.ListResourceTemplates(ctx, nil)
		if err != nil || len(tmpl.ResourceTemplates) != 2 {
			t.Fatalf("resource templates: %+v, %v", tmpl, err)
		}
		list, err := c.cs.ListResources(ctx, nil)
		if err != nil || len(list.Resources) == 0 || list.Resources[0].URI != "sena://sessions/"+id+"/notebook" {
			t.Fatalf("resources: %+v, %v", list, err)
		}
		nbRes, err := c.cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "sena://sessions/" + id + "/notebook"})
		if err != nil || !strings.Contains(nbRes.Contents[0].Text, `"nbformat": 4`) {
			t.Fatalf("notebook resource: %v", err)
		}
		nb := cells(t)
		var textCell, imageCell *notebook.Cell
		for _, cell := range nb.Cells {
			if len(cell.Outputs) > 0 && cell.Outputs[0].Type == notebook.StreamOutput && strings.Contains(cell.Outputs[0].Text, "HEAD") {
				textCell = cell
			}
			if len(cell.Outputs) == 5 && imageCell == nil {
				imageCell = cell
			}
		}
		out, err := c.cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: fmt.Sprintf("sena://sessions/%s/cells/%s/outputs/0", id, textCell.ID)})
		if err != nil || utf8.RuneCountInString(out.Contents[0].Text) != 100011 || out.Contents[0].MIMEType != "text/plain" {
			t.Fatalf("text output resource: %v", err)
		}
		img, err := c.cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: fmt.Sprintf("sena://sessions/%s/cells/%s/outputs/4", id, imageCell.ID)})
		if err != nil || img.Contents[0].MIMEType != "image/png" || !bytes.HasPrefix(img.Contents[0].Blob, []byte("\x89PNG")) {
			t.Fatalf("image output resource: %v", err)
		}
		if _, err := c.cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: fmt.Sprintf("sena://sessions/%s/cells/nope1234/outputs/0", id)}); err == nil {
			t.Fatal("a missing cell's output resource was read")
		}
	})
	t.Run("new_server_reattaches", func(t *testing.T) {
		srv2 := New(m, Options{Python: py, TextBudget: 1500})
		c2 := connect(t, srv2, nil)
		got := c2.ok("get_notebook_outputs", map[string]any{"session_id": id})
		contains(t, got, "not shown, to stay within the text budget: call get_notebook_outputs with start=")
		contains(t, c2.ok("execute_code", map[string]any{"session_id": id, "code": "print('from a new server')"}), "from a new server")
		srv2.Close(context.Background())
	})
	t.Run("misuse", func(t *testing.T) {
		c := parent.with(t)
		for tool, args := range map[string]map[string]any{
			"execute_code": {"code": "1"}, "edit_cell": {"cell": 0, "source": "1"}, "add_markdown": {"content": "x"},
			"insert_cell": {"source": "x"}, "delete_cell": {"cell": 0}, "move_cell": {"cell": 0, "before": 1}, "run_cell": {"cell": 0},
			"get_notebook_outputs": {}, "read_output": {"cell": 0}, "interrupt_kernel": {}, "restart_kernel": {}, "shutdown_session": {},
			"list_skills": {}, "list_libraries": {}, "attach_to_session": {}, "list_files": {}, "read_file": {"path": "x"}, "write_file": {"path": "x", "content": "x"},
			"list_variables": {}, "gpu_status": {}, "describe_model": {}, "install_packages": {"requirements": []string{"x"}},
		} {
			args["session_id"] = "snope"
			c.fails(tool, args, "unknown session \"snope\"")
		}
		c.fails("execute_code", map[string]any{"code": "1"}, "session_id")
		c.fails("execute_code", map[string]any{"session_id": id, "code": "1", "timeout": -1}, "timeout")
		c.fails("attach_to_session", map[string]any{}, "give session_id")
		c.fails("start_session", map[string]any{"gpu": "Z999"}, "gpu")
	})
	t.Run("every_tool_covered", func(t *testing.T) {
		tools, err := parent.cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(tools.Tools) != 24 {
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			t.Fatalf("%d tools (%v): a new tool needs its subtest here and its row in docs/mcp.md", len(tools.Tools), names)
		}
	})
	t.Run("secret_not_in_notebook", func(t *testing.T) {
		if bytes.Contains(nbBytes(t), []byte("s3cret-value")) {
			t.Fatal("the secret's value is in the notebook")
		}
	})
	t.Run("shutdown_session", func(t *testing.T) {
		c := parent.with(t)
		var r ShutdownResult
		c.structured("shutdown_session", map[string]any{"session_id": id}, &r)
		if r.Stopped != "sandbox" || r.NotebookPath != info.NotebookPath {
			t.Fatalf("shutdown: %+v", r)
		}
		c.fails("execute_code", map[string]any{"session_id": id, "code": "1"}, "session "+id+" is stopped")
		c.fails("list_variables", map[string]any{"session_id": id}, "is stopped")
		contains(t, c.ok("get_notebook_outputs", map[string]any{"session_id": id, "start": 0, "end": 2}), "fitted 42")
		contains(t, c.ok("read_output", map[string]any{"session_id": id, "cell": 0}), "fitted 42")
		nbtest.Validate(t, info.NotebookPath)
	})
}

var statusTime = regexp.MustCompile(` · \d+(\.\d+)?(ms|s)$`)

func rangeBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// TestAttachByURL attaches to a Jupyter server Sena did not start.
func TestAttachByURL(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	js := jupytertest.Start(t, py)
	srv := New(newManager(t), Options{})
	c := connect(t, srv, nil)

	bad := c.call("attach_to_session", map[string]any{"jupyter_url": "http://127.0.0.1:1/?token=" + js.Token})
	if !bad.IsError || strings.Contains(text(bad), js.Token) {
		t.Fatalf("attach to a dead URL: error=%v, text %q (must fail without the token)", bad.IsError, text(bad))
	}
	var info SessionInfo
	c.structured("attach_to_session", map[string]any{"session_id": "from-seer", "jupyter_url": js.URL + "?token=" + js.Token}, &info)
	if info.Provider != "external" || info.JupyterURL != "" {
		t.Fatalf("attach: %+v", info)
	}
	contains(t, c.ok("execute_code", map[string]any{"session_id": info.SessionID, "code": "print(6 * 7)"}), "42")
	c.fails("install_packages", map[string]any{"session_id": info.SessionID, "requirements": []string{"einops"}}, "a Jupyter server Sena did not start")
	contains(t, c.ok("write_file", map[string]any{"session_id": info.SessionID, "path": "from-agent.txt", "content": "hi"}), "[written]")
	if data, err := os.ReadFile(filepath.Join(js.RootDir, "from-agent.txt")); err != nil || string(data) != "hi" {
		t.Fatalf("write_file on an attached server: %q, %v", data, err)
	}
	var l SessionList
	c.structured("list_sessions", map[string]any{}, &l)
	if len(l.Sessions) != 1 || l.Sessions[0].SessionID != info.SessionID || !l.Sessions[0].Attached {
		t.Fatalf("list_sessions: %+v", l)
	}
	var r ShutdownResult
	c.structured("shutdown_session", map[string]any{"session_id": info.SessionID}, &r)
	if r.Stopped != "kernel" {
		t.Fatalf("shutdown: %+v", r)
	}
	c.fails("execute_code", map[string]any{"session_id": info.SessionID, "code": "1"}, "is stopped")
	nbtest.Validate(t, info.NotebookPath)
}
