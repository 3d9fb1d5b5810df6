package mcp

import (
	"bytes"
	"context"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
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

	t.Run("list_skills", func(t *testing.T) {
		c := parent.with(t)
		var l SkillList
		c.structured("list_skills", map[string]any{"session_id": id}, &l)
		if len(l.Skills) != 1 || l.Skills[0].Name != "probe" || l.Skills[0].Path != "skills/probe" {
			t.Fatalf("list_skills: %+v", l)
		}
		contains(t, c.ok("execute_code", map[string]any{"session_id": id, "code": "import probe_lib, helpers\nprint(probe_lib.fit(), helpers.double(21))"}), "fitted 42")
	})
	t.Run("execute_prints", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "import os, sys\nprint('hello')\nprint('warn', file=sys.stderr)\nprint(os.environ['SENA_GREETING'], len(os.environ['SENA_TEST_SECRET']))\n'done'")
		if res.IsError {
			t.Fatal(text(res))
		}
		contains(t, text(res), "[ok] execution_count=", "hello\n", "warn\n", "hi 12", "'done'", info.NotebookPath)
	})
	t.Run("execute_raises", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "def f():\n    return 1 / 0\nf()")
		if res.IsError {
			t.Fatalf("an exception in user code must be a result, not a tool error: %s", text(res))
		}
		contains(t, text(res), "[error: ZeroDivisionError]", "ZeroDivisionError: division by zero", "return 1 / 0")
		if strings.Contains(text(res), "\x1b") {
			t.Fatalf("ANSI codes in the result: %q", text(res))
		}
	})
	t.Run("budget", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "print('HEAD'); print('x' * 100000); print('TAIL')")
		got := text(res)
		if len(got) > 21000 {
			t.Fatalf("result is %d characters, over the budget", len(got))
		}
		contains(t, got, "HEAD", "TAIL", "characters cut; the full output is in cell ", info.NotebookPath)
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
		contains(t, text(res), "scaled down from 2000x1000", "1 more images not attached")
	})
	t.Run("html_svg_summarised", func(t *testing.T) {
		c := parent.with(t)
		got := text(c.exec(id, "from IPython.display import HTML, SVG, display\ndisplay(HTML('<b>bold</b>'))\ndisplay(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\"/>'))"))
		contains(t, got, "[HTML output, ", "[SVG image, ")
	})
	t.Run("add_markdown", func(t *testing.T) {
		c := parent.with(t)
		var r MarkdownResult
		c.structured("add_markdown", map[string]any{"session_id": id, "content": "## Findings\nIt works."}, &r)
		if r.CellNumber <= 0 || r.NotebookPath != info.NotebookPath {
			t.Fatalf("add_markdown: %+v", r)
		}
	})
	t.Run("edit_cell", func(t *testing.T) {
		c := parent.with(t)
		got := c.ok("edit_cell", map[string]any{"session_id": id, "code": "print('edited first')", "cell_index": 0})
		contains(t, got, "[ok]", "edited first", "cell 0 of")
		got = c.ok("edit_cell", map[string]any{"session_id": id, "code": "print('edited last')"})
		contains(t, got, "edited last")
		c.fails("edit_cell", map[string]any{"session_id": id, "code": "1", "cell_index": 99}, "out of range")
	})
	t.Run("get_notebook_outputs", func(t *testing.T) {
		c := parent.with(t)
		got := c.ok("get_notebook_outputs", map[string]any{"session_id": id})
		contains(t, got, "edited first", "## Findings", "ZeroDivisionError", "· code cell 0", "[image/png image: not attached here")
		last := c.call("get_notebook_outputs", map[string]any{"session_id": id, "start": -2, "end": -1})
		contains(t, text(last), "edited last")
		if strings.Contains(text(last), "Findings") {
			t.Fatalf("start=-2, end=-1 shows more than the last code cell:\n%s", text(last))
		}
		withImages := c.call("get_notebook_outputs", map[string]any{"session_id": id, "include_images": true})
		if n := len(images(withImages)); n != 4 {
			t.Fatalf("include_images: %d images, want 4", n)
		}
		c.fails("get_notebook_outputs", map[string]any{"session_id": id, "start": 500}, "out of range")
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
	t.Run("interrupt_kernel", func(t *testing.T) {
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
		contains(t, text(c.exec(id, "kept")), "[error: NameError]")
		contains(t, text(c.exec(id, "import helpers; print(helpers.double(2))")), "4")
	})
	t.Run("kernel_death_reported", func(t *testing.T) {
		c := parent.with(t)
		res := c.exec(id, "import os; os._exit(1)")
		if !res.IsError {
			t.Fatalf("a dying kernel must be a tool error: %s", text(res))
		}
		contains(t, text(res), "restarted during this call", "variables are gone")
		// Jupyter restarts a dead kernel by itself; the next call sees a fresh one.
		deadline := time.Now().Add(30 * time.Second)
		for res = c.exec(id, "print('back')"); res.IsError && time.Now().Before(deadline); res = c.exec(id, "print('back')") {
			time.Sleep(500 * time.Millisecond)
		}
		contains(t, text(res), "[ok]", "back")
		contains(t, c.ok("restart_kernel", map[string]any{"session_id": id}), "restarted")
	})
	t.Run("new_server_reattaches", func(t *testing.T) {
		srv2 := New(m, Options{Python: py, TextBudget: 1500})
		c2 := connect(t, srv2, nil)
		got := c2.ok("get_notebook_outputs", map[string]any{"session_id": id})
		contains(t, got, "not shown, to stay within the text budget: call get_notebook_outputs with start=")
		contains(t, c2.ok("execute_code", map[string]any{"session_id": id, "code": "print('from a new server')"}), "from a new server")
		srv2.Close(context.Background())
	})
	t.Run("list_sessions", func(t *testing.T) {
		c := parent.with(t)
		var l SessionList
		c.structured("list_sessions", map[string]any{}, &l)
		for _, s := range l.Sessions {
			if s.SessionID == id {
				if s.Status != "running" || !s.Attached || s.NotebookPath != info.NotebookPath {
					t.Fatalf("listed as %+v", s)
				}
				return
			}
		}
		t.Fatalf("session %s not listed: %+v", id, l)
	})
	t.Run("misuse", func(t *testing.T) {
		c := parent.with(t)
		for tool, args := range map[string]map[string]any{
			"execute_code": {"code": "1"}, "edit_cell": {"code": "1"}, "add_markdown": {"content": "x"},
			"get_notebook_outputs": {}, "interrupt_kernel": {}, "restart_kernel": {}, "shutdown_session": {},
			"list_skills": {}, "attach_to_session": {},
		} {
			args["session_id"] = "snope"
			c.fails(tool, args, "unknown session \"snope\"")
		}
		c.fails("execute_code", map[string]any{"code": "1"}, "session_id")
		c.fails("execute_code", map[string]any{"session_id": id, "code": "1", "timeout": -1}, "timeout")
		c.fails("attach_to_session", map[string]any{}, "give session_id")
		c.fails("start_session", map[string]any{"gpu": "Z999"}, "gpu")
	})
	t.Run("secret_not_in_notebook", func(t *testing.T) {
		data, err := os.ReadFile(info.NotebookPath)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("s3cret-value")) {
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
		c.fails("execute_code", map[string]any{"session_id": id, "code": "1"}, "unknown session")
		contains(t, c.ok("get_notebook_outputs", map[string]any{"session_id": id, "start": 0, "end": 2}), "edited first")
		nbtest.Validate(t, info.NotebookPath)
	})
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
	c.fails("execute_code", map[string]any{"session_id": info.SessionID, "code": "1"}, "unknown session")
	nbtest.Validate(t, info.NotebookPath)
}
