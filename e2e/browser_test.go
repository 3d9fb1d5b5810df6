package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The researcher's view: real JupyterLab in headless Chromium (Debian's
// chromium, at /usr/bin/chromium or $SENA_CHROMIUM) open on a session's
// jupyter_url while an agent works through `sena exec`.

// chromiumPath is the browser the tests drive; none is ever downloaded.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SENA_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs Chromium at %s (scripts/setup-test-env installs Debian's chromium): %v", p, err)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium): %v", p, err)
	}
	return p
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	// dialogs collects the titles of every JupyterLab dialog seen.
	mu      sync.Mutex
	dialogs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromiumPath(t), err)
	}
	// A page asking before it unloads (unsaved changes) is answered yes.
	go func() {
		for _, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return &browser{t: t, ctx: ctx}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// pageCell is a notebook cell as the page renders it.
type pageCell struct {
	Source string `json:"source"`
	Output string `json:"output"`
	Prompt string `json:"prompt"`
}

type pageState struct {
	Cells   []pageCell `json:"cells"`
	Dialogs []string   `json:"dialogs"`
}

const readPage = `JSON.stringify((() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const cells = nb ? [...nb.querySelectorAll('.jp-Cell')].map(c => ({
    source: [...c.querySelectorAll('.jp-InputArea .cm-line')].map(l => l.textContent).join('\n'),
    output: [...c.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join(''),
    prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent || '',
  })) : [];
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(d => (d.querySelector('.jp-Dialog-header') || d).textContent.trim());
  return {cells, dialogs};
})())`

// state reads the page, answers JupyterLab's "taking some time to load"
// question with "Continue waiting" (a slow machine is no failure), and
// remembers every other dialog.
func (b *browser) state() pageState {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](readPage))
	if err != nil {
		b.t.Fatal(err)
	}
	var s pageState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		b.t.Fatal(err)
	}
	for _, d := range s.Dialogs {
		if d == "Loading" {
			_, _ = chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('.jp-Dialog button')].filter(x => x.textContent.includes('Continue waiting')).forEach(x => x.click())`))
			continue
		}
		b.mu.Lock()
		if len(b.dialogs) == 0 || b.dialogs[len(b.dialogs)-1] != d {
			b.dialogs = append(b.dialogs, d)
		}
		b.mu.Unlock()
	}
	return s
}

// waitFor polls the page until ok holds, and fails after limit.
func (b *browser) waitFor(what string, limit time.Duration, ok func(pageState) bool) (pageState, time.Duration) {
	b.t.Helper()
	start := time.Now()
	for {
		s := b.state()
		if ok(s) {
			return s, time.Since(start)
		}
		if time.Since(start) > limit {
			b.t.Fatalf("the page did not show %s within %v; it shows %+v", what, limit, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// open loads the URL and waits for the notebook with its kernel idle.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
	b.waitFor("the notebook", 3*time.Minute, func(s pageState) bool { return len(s.Cells) > 0 })
	b.waitIdle()
}

func (b *browser) waitIdle() {
	b.t.Helper()
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		idle, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook') &&
			[...document.querySelectorAll('.jp-Toolbar-kernelStatus, .jp-NotebookPanel-toolbar [data-status]')].some(e => (e.getAttribute('data-status') || e.textContent || '').match(/idle/i)) || 
			[...document.querySelectorAll('[title]')].some(e => /Kernel status: Idle/i.test(e.getAttribute('title')))`))
		if err == nil && idle {
			return
		}
		b.state()
		time.Sleep(300 * time.Millisecond)
	}
	b.t.Logf("the page's kernel status never read idle; going on")
}

// typeCell inserts a code cell below the last one and runs it, as a
// researcher does: select the cell, b, Enter, type, Shift+Enter. Each step
// waits for the page to take it (its editor focused, the text in the
// cell), since a loaded machine may drop keys sent too early.
func (b *browser) typeCell(code string, intoEmpty bool) {
	b.t.Helper()
	last := `.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell:last-child`
	b.do(chromedp.Click(chromedp.CSS(last + ` .jp-InputPrompt`)))
	if !intoEmpty {
		b.do(chromedp.KeyEvent("b"))
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	focused := `!!(document.activeElement && document.activeElement.closest('` + last + ` .cm-editor'))`
	b.poll("the new cell's editor focused", 20*time.Second, focused, func() {
		b.do(chromedp.Click(chromedp.CSS(last + ` .cm-content`)))
	})
	lines := strings.Split(code, "\n")
	for i, line := range lines {
		if i > 0 {
			b.do(chromedp.KeyEvent(kb.Enter))
		}
		b.do(chromedp.KeyEvent(line))
	}
	typed, _ := json.Marshal(lines[len(lines)-1])
	b.poll("the typed code in the cell", 10*time.Second,
		`[...document.querySelectorAll('`+last+` .jp-InputArea .cm-line')].some(l => l.textContent.includes(`+string(typed)+`))`, nil)
	b.do(chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)))
}

// poll evaluates cond in the page until it is true, calling retry (if any)
// every 3 s meanwhile, and fails after limit.
func (b *browser) poll(what string, limit time.Duration, cond string, retry func()) {
	b.t.Helper()
	start, tried := time.Now(), time.Now()
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Since(start) > limit {
			b.t.Fatalf("the page did not show %s within %v (%v); it shows %+v", what, limit, err, b.state())
		}
		if retry != nil && time.Since(tried) > 3*time.Second {
			retry()
			tried = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) seenDialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

func hasCell(s pageState, source, output string) bool {
	for _, c := range s.Cells {
		if strings.Contains(c.Source, source) && strings.Contains(c.Output, output) {
			return true
		}
	}
	return false
}

// order returns the indexes of the cells holding each of sources, -1 where
// none does.
func order(sources []string, cells []string) []int {
	var at []int
	for _, s := range sources {
		i := -1
		for j, c := range cells {
			if strings.Contains(c, s) {
				i = j
				break
			}
		}
		at = append(at, i)
	}
	return at
}

func increasing(at []int) bool {
	for i, v := range at {
		if v < 0 || i > 0 && v <= at[i-1] {
			return false
		}
	}
	return true
}

// notebookSources is `sena notebook`'s cells: source and text outputs.
func (c *cli) notebookSources(id string) (sources, outputs []string) {
	c.t.Helper()
	out := c.ok("notebook", "-o", "-", id)
	var nb struct {
		Cells []struct {
			Source  json.RawMessage `json:"source"`
			Outputs []struct {
				Text json.RawMessage `json:"text"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(out), &nb); err != nil {
		c.t.Fatalf("sena notebook: %v\n%s", err, out)
	}
	join := func(raw json.RawMessage) string {
		var lines []string
		if json.Unmarshal(raw, &lines) == nil {
			return strings.Join(lines, "")
		}
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	}
	for _, cell := range nb.Cells {
		sources = append(sources, join(cell.Source))
		var o strings.Builder
		for _, x := range cell.Outputs {
			o.WriteString(join(x.Text))
		}
		outputs = append(outputs, o.String())
	}
	return sources, outputs
}

// liveNotebookInBrowser is the researcher watching an agent: the agent's
// cell and its output as it streams show in the open page without a reload
// and without a dialog; a cell typed and run in the page stays, and the
// agent uses its variable; after a reload every cell is in the page and in
// `sena notebook`.
func liveNotebookInBrowser(t *testing.T, c *cli, r upResult) {
	b := newBrowser(t)
	b.open(r.JupyterURL)

	// The agent's cell streams into the page while it runs.
	done := make(chan string, 1)
	started := time.Now()
	go func() {
		out, errOut, code := c.run("exec", r.SessionID, "import time\nprint('agent-one', flush=True)\ntime.sleep(6)\nx = 41\nprint('agent-one done')")
		done <- fmt.Sprintf("exit %d: %s%s", code, out, errOut)
	}()
	_, took := b.waitFor("the agent's first output", 60*time.Second, func(s pageState) bool { return hasCell(s, "print('agent-one'", "agent-one") })
	select {
	case res := <-done:
		t.Fatalf("the page showed the agent's output only after its cell finished (%v; %s)", took, res)
	default:
	}
	t.Logf("the agent's output reached the page %v after `sena exec` started (%v after it ran)", took, time.Since(started))
	if took > 15*time.Second {
		t.Errorf("the agent's output took %v to reach the page", took)
	}

	// The researcher types a cell in the page while the agent's cell still
	// runs and records its outputs into the same document, and runs it (the
	// kernel queues it behind the agent's cell, whose variable it uses).
	b.typeCell("y = x + 1\nprint('page', y)", false)
	select {
	case res := <-done:
		t.Logf("the page's cell was typed after the agent's cell ended (a slow machine): the edits were not concurrent this time")
		done <- res
	default:
		t.Logf("the page's cell was typed and run while the agent's cell ran (%v after it started)", time.Since(started))
	}
	if res := <-done; !strings.HasPrefix(res, "exit 0") {
		t.Fatalf("sena exec: %s", res)
	}
	b.waitFor("the agent's cell finished", 30*time.Second, func(s pageState) bool { return hasCell(s, "print('agent-one'", "agent-one done") })
	b.waitFor("the page's cell output", 60*time.Second, func(s pageState) bool { return hasCell(s, "y = x + 1", "page 42") })

	// The agent's next cell uses the page's variable.
	out := c.ok("exec", r.SessionID, "print('agent-two', y * 2)")
	if strings.TrimSpace(out) != "agent-two 84" {
		t.Fatalf("the agent's cell with the page's variable printed %q", out)
	}
	b.waitFor("the agent's second cell", 30*time.Second, func(s pageState) bool { return hasCell(s, "agent-two", "agent-two 84") })

	// Reload: every cell is in the page, in order, and in `sena notebook`.
	time.Sleep(2 * time.Second) // the room saves a second after a change
	b.do(chromedp.Reload())
	b.open(r.JupyterURL)
	want := []string{"print('agent-one'", "y = x + 1", "print('agent-two'"}
	s, _ := b.waitFor("every cell after a reload", 60*time.Second, func(s pageState) bool {
		var src []string
		for _, c := range s.Cells {
			src = append(src, c.Source)
		}
		return increasing(order(want, src)) && hasCell(s, "y = x + 1", "page 42") && hasCell(s, "agent-two", "agent-two 84")
	})
	t.Logf("after the reload the page has %d cells: %+v", len(s.Cells), s.Cells)
	src, outs := c.notebookSources(r.SessionID)
	if at := order(want, src); !increasing(at) {
		t.Fatalf("sena notebook's cells %q lack one of %q (at %v)", src, want, at)
	}
	if i := order([]string{"y = x + 1"}, src)[0]; outs[i] != "page 42\n" {
		t.Fatalf("sena notebook has the page's cell without its output: %q", outs[i])
	}
	if d := b.seenDialogs(); len(d) > 0 {
		t.Fatalf("the page showed dialogs: %q", d)
	}
}

// mergedNotebookInBrowser is the same researcher where JupyterLab has no
// real-time collaboration: the page keeps its own copy, so it does not show
// the agent's cells until it reloads. Its save asks nothing (Sena's writes
// keep the file's modification time, so the page sees no newer file) and
// keeps everything: Sena merges what it wrote since the page loaded into
// the page's save, and Sena's next cell lands on the page's save.
func mergedNotebookInBrowser(t *testing.T, c *cli, r upResult) {
	b := newBrowser(t)
	b.open(r.JupyterURL)
	if out := c.ok("exec", r.SessionID, "x = 41\nprint('agent-one')"); strings.TrimSpace(out) != "agent-one" {
		t.Fatalf("exec: %q", out)
	}
	b.typeCell("y = x + 1\nprint('page', y)", true)
	b.waitFor("the page's cell output", 60*time.Second, func(s pageState) bool { return hasCell(s, "y = x + 1", "page 42") })
	// Save, though the file changed since the page loaded it.
	b.do(chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.state() // notes any dialog
		src, outs := c.notebookSources(r.SessionID)
		if i := order([]string{"y = x + 1"}, src)[0]; i >= 0 && outs[i] == "page 42\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's save did not reach the notebook within 30s (dialogs %q): %q", b.seenDialogs(), src)
		}
		time.Sleep(300 * time.Millisecond)
	}
	out := c.ok("exec", r.SessionID, "print('agent-two', y * 2)")
	if strings.TrimSpace(out) != "agent-two 84" {
		t.Fatalf("the agent's cell with the page's variable printed %q", out)
	}
	b.do(chromedp.Reload())
	b.open(r.JupyterURL)
	want := []string{"print('agent-one')", "y = x + 1", "print('agent-two'"}
	b.waitFor("every cell after a reload", 60*time.Second, func(s pageState) bool {
		var src []string
		for _, c := range s.Cells {
			src = append(src, c.Source)
		}
		return increasing(order(want, src)) && hasCell(s, "y = x + 1", "page 42") && hasCell(s, "agent-two", "agent-two 84")
	})
	src, outs := c.notebookSources(r.SessionID)
	if at := order(want, src); !increasing(at) {
		t.Fatalf("sena notebook's cells %q lack one of %q (at %v)", src, want, at)
	}
	if i := order([]string{"y = x + 1"}, src)[0]; outs[i] != "page 42\n" {
		t.Fatalf("sena notebook has the page's cell without its output: %q", outs[i])
	}
	if d := b.seenDialogs(); len(d) > 0 {
		t.Fatalf("the page showed dialogs: %q", d)
	}
}

// localCLI is a CLI on the local provider (no Docker needed).
func localCLI(t *testing.T) *cli {
	requireBinaries(t)
	return &cli{t: t, stateDir: t.TempDir(), provider: "local"}
}

// TestBrowserLocalCollaborative: the environment Sena builds has
// JupyterLab with real-time collaboration.
func TestBrowserLocalCollaborative(t *testing.T) {
	chromiumPath(t)
	c := localCLI(t)
	r := c.up()
	liveNotebookInBrowser(t, c, r)
}

// TestBrowserLocalMerge: a user's own Python with JupyterLab but without
// jupyter-collaboration (--python).
func TestBrowserLocalMerge(t *testing.T) {
	chromiumPath(t)
	c := localCLI(t)
	r := c.up("--python", plainLabPython(t))
	mergedNotebookInBrowser(t, c, r)
}

// plainLabPython is a virtual environment with JupyterLab and no
// collaboration extension, made once in the user's cache.
func plainLabPython(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := cache + "/sena-test/lab-without-rtc-v1"
	py := dir + "/bin/python"
	if _, err := os.Stat(dir + "/.complete"); err == nil {
		return py
	}
	os.RemoveAll(dir)
	for _, args := range [][]string{
		{"python3", "-m", "venv", dir},
		{py, "-m", "pip", "install", "--quiet", "jupyterlab>=4.6,<4.7", "ipykernel"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(dir+"/.complete", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return py
}

var (
	labImageMu   sync.Mutex
	labImageRefs = map[string]string{}
)

// labImage is the CPU test image with JupyterLab added (testdata/build-lab-image):
// variant rtc with jupyter-collaboration, plain without.
func labImage(t *testing.T, variant string) string {
	t.Helper()
	labImageMu.Lock()
	defer labImageMu.Unlock()
	if ref, ok := labImageRefs[variant]; ok {
		return ref
	}
	cmd := exec.Command("testdata/build-lab-image", testImage(t), variant)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testdata/build-lab-image %s: %v\n%s", variant, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	labImageRefs[variant] = lines[len(lines)-1]
	return labImageRefs[variant]
}

// TestBrowserDockerCollaborative: a Docker sandbox whose image has
// JupyterLab with real-time collaboration.
func TestBrowserDockerCollaborative(t *testing.T) {
	chromiumPath(t)
	c := newCLI(t, pluginName)
	r := c.up("--image", labImage(t, "rtc"))
	liveNotebookInBrowser(t, c, r)
}

// TestBrowserDockerMerge: a Docker sandbox whose image has JupyterLab but
// no jupyter-collaboration.
func TestBrowserDockerMerge(t *testing.T) {
	chromiumPath(t)
	c := newCLI(t, pluginName)
	r := c.up("--image", labImage(t, "plain"))
	mergedNotebookInBrowser(t, c, r)
}
