package session_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/notebook/nbtest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/providers"
)

// TestSessionOnEveryServer runs the session operations the MCP tools are
// built on against each Jupyter found (Debian's 1.x with IPython 8.5, and
// PyPI's 2.x): cells by id and index, notebook surgery, a kernel death,
// the kernel-side helpers, files and a package install. The MCP tests cover
// the rest on one of them.
func TestSessionOnEveryServer(t *testing.T) {
	for _, in := range jupytertest.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) { testSession(t, in.Path) })
	}
}

func testSession(t *testing.T, python string) {
	ctx := context.Background()
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)})
	rec, err := m.Up(ctx, &core.SandboxConfig{Provider: "local", Python: python})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Down(context.Background(), rec.ID) })
	s, err := m.Attach(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	must := func(ex *session.Execution, err error) *session.Execution {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	first := must(s.Execute(ctx, "x = 1\nprint('first')", nil))
	md := must(s.InsertCell(ctx, notebook.MarkdownCell, "# notes", session.CellPosition{}, false, nil))
	bad := must(s.Execute(ctx, "print(y)", nil))
	if bad.Result.EName != "NameError" || bad.CellIndex != 2 || first.CellIndex != 0 || md.CellIndex != 1 {
		t.Fatalf("cells: first at %d, markdown at %d, bad at %d (%s)", first.CellIndex, md.CellIndex, bad.CellIndex, bad.Result.EName)
	}
	fixed := must(s.EditCell(ctx, notebook.RefID(bad.Cell.ID), "y = x + 1\nprint(y)", true, nil))
	if fixed.CellIndex != 2 || fixed.Result.Status != "ok" || fixed.Cell.Outputs[0].Text != "2\n" {
		t.Fatalf("edit by id: %+v", fixed)
	}
	byIndex := must(s.RunCell(ctx, notebook.RefIndex(-1), nil))
	if byIndex.Cell.ID != bad.Cell.ID || byIndex.Cell.Outputs[0].Text != "2\n" {
		t.Fatalf("run_cell -1 ran %s", byIndex.Cell.ID)
	}
	if _, err := s.RunCell(ctx, notebook.RefIndex(1), nil); !session.IsInputError(err) || !strings.Contains(err.Error(), "markdown cell") {
		t.Fatalf("run a markdown cell: %v", err)
	}
	if _, _, _, err := s.MoveCell(ctx, notebook.RefID(md.Cell.ID), session.CellPosition{After: &notebook.Ref{Index: -1, ByIndex: true}}); err != nil {
		t.Fatal(err)
	}
	if _, at, err := s.DeleteCell(ctx, notebook.RefID(first.Cell.ID)); err != nil || at != 0 {
		t.Fatalf("delete: %d, %v", at, err)
	}
	nb, _ := s.Notebook()
	if len(nb.Cells) != 2 || nb.Cells[0].ID != bad.Cell.ID || nb.Cells[1].ID != md.Cell.ID {
		t.Fatalf("after move and delete: %v", nb.Cells)
	}

	// The helpers run silently: no cell, no history, no names left behind.
	vars, err := s.ListVariables(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, v := range vars.Variables {
		names[v.Name] = v.Summary
	}
	if names["x"] != "1" || names["y"] != "2" || len(names) != 2 {
		t.Fatalf("variables: %+v", vars.Variables)
	}
	if _, err := s.DescribeModel(ctx, "x", "", 0); !session.IsInputError(err) || !strings.Contains(err.Error(), "not a torch.nn.Module") {
		t.Fatalf("describe_model on an int: %v", err)
	}
	g, err := s.GPUStatus(ctx)
	if err != nil || g.Host.TotalMiB == 0 {
		t.Fatalf("gpu status: %+v, %v", g, err)
	}
	count := must(s.Execute(ctx, "print(len(In), [k for k in globals() if 'sena' in k])", nil))
	if got := count.Cell.Outputs[0].Text; !strings.HasSuffix(got, " []\n") {
		t.Fatalf("the helpers left a trace: %q", got)
	}

	// Files go through the contents API and stay in the work dir.
	if err := s.WriteFile(ctx, "data/in.txt", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	must(s.Execute(ctx, "open('data/out.txt', 'w').write(open('data/in.txt').read().upper())", nil))
	if data, _, err := s.ReadFile(ctx, "data/out.txt", 0); err != nil || string(data) != "HELLO" {
		t.Fatalf("read a file a cell wrote: %q, %v", data, err)
	}
	if _, _, err := s.ReadFile(ctx, "../x", 0); !session.IsInputError(err) {
		t.Fatalf("a path out of the work dir: %v", err)
	}

	// A package installed while the kernel runs, there after a restart too.
	if err := s.WriteFile(ctx, "w/senatest-1.0-py3-none-any.whl", testWheel(t)); err != nil {
		t.Fatal(err)
	}
	inst, err := m.InstallPackages(ctx, s, []string{"./w/senatest-1.0-py3-none-any.whl"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Packages) != 1 || inst.Packages[0] != "senatest-1.0" {
		t.Fatalf("installed %+v", inst)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	imp := must(s.Execute(ctx, "import senatest; print(senatest.OK)", nil))
	if imp.Result.Status != "ok" || imp.Cell.Outputs[0].Text != "yes\n" {
		t.Fatalf("import after install and restart: %+v", imp.Cell.Outputs)
	}

	// A death mid-cell is written into the cell; the next call is told.
	s.Notice(ctx)
	died, err := s.Execute(ctx, "import os, time\nprint('going', flush=True)\ntime.sleep(0.5)\nos._exit(3)", nil)
	if !errors.Is(err, kernel.ErrKernelRestarted) || died.Died == "" {
		t.Fatalf("death: %v, %+v", err, died)
	}
	last := died.Cell.Outputs[len(died.Cell.Outputs)-1]
	if last.EName != "KernelDied" || !strings.Contains(strings.Join(last.Traceback, "\n"), "No fatal signal was recorded") {
		t.Fatalf("the cell does not record the death: %+v", died.Cell.Outputs)
	}
	if n := s.Notice(ctx); !strings.Contains(n, "the kernel restarted during an earlier call (cell "+died.Cell.ID) {
		t.Fatalf("notice after a death: %q", n)
	}
	if n := s.Notice(ctx); n != "" {
		t.Fatalf("the notice is given twice: %q", n)
	}
	after := must(s.Execute(ctx, "print('x' in globals())", nil))
	if after.Cell.Outputs[0].Text != "False\n" {
		t.Fatalf("after the death: %q", after.Cell.Outputs[0].Text)
	}
	// An out-of-memory kill is told apart by Linux's counters: here the
	// count taken when the kernel started is lowered by one, as if the
	// killer had struck since.
	lowered := must(s.Execute(ctx, "import json, os, tempfile\np = os.path.join(tempfile.gettempdir(), 'sena-faults-"+rec.KernelID+".log.oom')\n"+
		"c = json.load(open(p))\njson.dump({k: v - 1 for k, v in c.items()}, open(p, 'w'))\nprint(sorted(c))", nil))
	if strings.Contains(lowered.Cell.Outputs[0].Text, "system") {
		oom, _ := s.Execute(ctx, "import os; os._exit(9)", nil)
		if oom == nil || !strings.Contains(oom.Died, "It was killed (SIGKILL): the out-of-memory killer struck while it ran") {
			t.Fatalf("an OOM kill is not told: %+v", oom)
		}
	} else {
		t.Logf("this Linux counts no OOM kills in /proc/vmstat: %s", lowered.Cell.Outputs[0].Text)
	}
	nbtest.Validate(t, store.NotebookPath(rec.ID))
}

func testWheel(t *testing.T) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	files := map[string]string{
		"senatest/__init__.py":            "OK = 'yes'\n",
		"senatest-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: senatest\nVersion: 1.0\n",
		"senatest-1.0.dist-info/WHEEL":    "Wheel-Version: 1.0\nGenerator: sena-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"senatest-1.0.dist-info/RECORD":   "senatest/__init__.py,,\nsenatest-1.0.dist-info/METADATA,,\nsenatest-1.0.dist-info/WHEEL,,\nsenatest-1.0.dist-info/RECORD,,\n",
	}
	for name, text := range files {
		w, err := z.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(text))
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
