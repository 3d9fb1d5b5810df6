package session_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/notebook/nbtest"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/providers"
)

// The live notebook: Sena's notebook service in the sandbox's Jupyter keeps
// one document that Sena, pages and later processes share.

// liveEnv is a server to run a live-document test on: a user's interpreter
// (no real-time collaboration: the service merges with the file) or the
// environment Sena builds (python "": JupyterLab with jupyter-collaboration).
type liveEnv struct {
	name, python, mode string
}

func fileEnvs(t *testing.T) []liveEnv {
	var envs []liveEnv
	for _, in := range jupytertest.Interpreters(t) {
		envs = append(envs, liveEnv{in.Name, in.Path, "file"})
	}
	return envs
}

func collaborativeEnv() liveEnv { return liveEnv{"sena-env", "", "collaborative"} }

type liveSession struct {
	t     *testing.T
	m     *session.Manager
	store *session.Store
	rec   *session.Record
	s     *session.Session
}

func upLive(t *testing.T, env liveEnv, cfg *core.SandboxConfig) *liveSession {
	t.Helper()
	ctx := context.Background()
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)})
	if cfg == nil {
		cfg = &core.SandboxConfig{}
	}
	cfg.Provider, cfg.Python = "local", env.python
	rec, err := m.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Down(context.Background(), rec.ID) })
	s, err := m.Attach(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if got := s.LiveDocument(ctx); got != env.mode {
		t.Fatalf("the notebook is shared as %q, want %q", got, env.mode)
	}
	return &liveSession{t: t, m: m, store: store, rec: rec, s: s}
}

func (l *liveSession) exec(code string) *session.Execution {
	l.t.Helper()
	ex, err := l.s.Execute(context.Background(), code, nil)
	if err != nil {
		l.t.Fatalf("execute %q: %v", code, err)
	}
	return ex
}

// page is what a JupyterLab page without real-time collaboration does: it
// loads the notebook through the contents API, changes its own copy and
// saves it whole.
type page struct {
	l     *liveSession
	model map[string]any
}

func (l *liveSession) contentsURL() string {
	return strings.TrimSuffix(l.rec.Endpoint.URL, "/") + "/api/contents/" + url.PathEscape(l.rec.Notebook)
}

func (l *liveSession) api(method, u string, body any, out any) {
	l.t.Helper()
	token, err := l.store.Token(l.rec.ID)
	if err != nil {
		l.t.Fatal(err)
	}
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		l.t.Fatalf("%s %s: HTTP %d", method, u, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *liveSession) openPage() *page {
	p := &page{l: l}
	l.api(http.MethodGet, l.contentsURL()+"?type=notebook&content=1", nil, &p.model)
	return p
}

func (p *page) cells() []any { return p.model["content"].(map[string]any)["cells"].([]any) }

func (p *page) setCells(cells []any) { p.model["content"].(map[string]any)["cells"] = cells }

// addCell appends a cell as a researcher who typed and ran it would.
func (p *page) addCell(id, source, output string) {
	cell := map[string]any{"cell_type": "code", "id": id, "metadata": map[string]any{}, "source": source,
		"execution_count": 99, "outputs": []any{map[string]any{"output_type": "stream", "name": "stdout", "text": output}}}
	p.setCells(append(p.cells(), cell))
}

func (p *page) save() {
	m := map[string]any{"type": "notebook", "format": "json", "content": p.model["content"]}
	p.l.api(http.MethodPut, p.l.contentsURL(), m, nil)
}

// notebook is the session's notebook as `sena notebook` gives it.
func (l *liveSession) notebook() *notebook.Notebook {
	l.t.Helper()
	path, err := l.m.NotebookFile(l.rec.ID)
	if err != nil {
		l.t.Fatal(err)
	}
	nb, err := notebook.ReadFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	return nb
}

func sources(nb *notebook.Notebook) []string {
	var out []string
	for _, c := range nb.Cells {
		out = append(out, c.Source)
	}
	return out
}

// TestPageSavesAreMerged: without real-time collaboration a page holds its
// own copy and saves it whole. Neither side loses a cell: Sena's changes
// land on the file as the page saved it, and a page's save of an older
// copy keeps what Sena wrote since; a cell the page deleted stays deleted.
func TestPageSavesAreMerged(t *testing.T) {
	for _, env := range fileEnvs(t) {
		t.Run(env.name, func(t *testing.T) {
			l := upLive(t, env, nil)
			a := l.exec("a = 1\nprint('agent a')")
			p := l.openPage() // the researcher opens the notebook
			p.addCell("page0001", "p = a + 1\nprint('page', p)", "page 2\n")
			var seen, disk map[string]any
			l.api(http.MethodGet, l.contentsURL()+"?content=0&hash=1", nil, &seen)
			b := l.exec("print('agent b')") // the page does not show it
			// Sena's write leaves the file's time and the hash pages get as
			// they were, so the page's save is not taken for a conflict
			// ("File Changed"): it is merged.
			l.api(http.MethodGet, l.contentsURL()+"?content=0&hash=1", nil, &disk)
			if disk["last_modified"] != p.model["last_modified"] || disk["hash"] != seen["hash"] {
				t.Errorf("after Sena's write the page sees time %v (it loaded %v) and hash %v (it had %v)", disk["last_modified"], p.model["last_modified"], disk["hash"], seen["hash"])
			}
			p.save() // ... and saves its copy
			// Another page's save is a conflict to other pages: the hash moves.
			l.api(http.MethodGet, l.contentsURL()+"?content=0&hash=1", nil, &disk)
			if seen["hash"] != nil && disk["hash"] == seen["hash"] {
				t.Errorf("a page's save left the hash pages get as it was")
			}
			c := l.exec("print('agent c')")
			want := []string{a.Cell.Source, b.Cell.Source, "p = a + 1\nprint('page', p)", c.Cell.Source}
			if got := sources(l.notebook()); !slices.Equal(got, want) {
				t.Fatalf("cells after a page save and a later agent cell:\n got %q\nwant %q", got, want)
			}
			// The page reloads, deletes agent a's cell (it saw it) and saves:
			// that deletion is the researcher's and stays.
			p = l.openPage()
			var kept []any
			for _, c := range p.cells() {
				if c.(map[string]any)["id"] != a.Cell.ID {
					kept = append(kept, c)
				}
			}
			p.setCells(kept)
			d := l.exec("print('agent d')")
			p.save()
			want = []string{b.Cell.Source, "p = a + 1\nprint('page', p)", c.Cell.Source, d.Cell.Source}
			nb := l.notebook()
			if got := sources(nb); !slices.Equal(got, want) {
				t.Fatalf("after the page deleted a cell it had seen:\n got %q\nwant %q", got, want)
			}
			if out := nb.Cells[1].Outputs; len(out) != 1 || out[0].Text != "page 2\n" {
				t.Fatalf("the page's outputs were not kept: %+v", out)
			}
			// Agent tools see the page's cell by its id.
			if ex, err := l.s.RunCell(context.Background(), notebook.RefID("page0001"), nil); err != nil || ex.Cell.Outputs[0].Text != "page 2\n" {
				t.Fatalf("run the page's cell by id: %+v, %v", ex, err)
			}
			nbtest.Validate(t, l.store.NotebookPath(l.rec.ID))
			// The page's last save before down is in the notebook that
			// outlives the session.
			p = l.openPage()
			p.addCell("page0002", "# the researcher's last note", "")
			p.save()
			l.s.Close()
			if err := l.m.Down(context.Background(), l.rec.ID); err != nil {
				t.Fatal(err)
			}
			nb, err := notebook.ReadFile(l.store.NotebookPath(l.rec.ID))
			if err != nil {
				t.Fatal(err)
			}
			if nb.Cells[len(nb.Cells)-1].ID != "page0002" {
				t.Fatalf("after down the notebook's cells are %q", sources(nb))
			}
		})
	}
}

// TestOutputLimit: a cell that prints far more than the notebook should
// hold keeps its start and its end within the limit, says what it left out
// and where all of it is, and the session stays fast after it.
func TestOutputLimit(t *testing.T) {
	envs := append(fileEnvs(t)[:1], collaborativeEnv())
	for _, env := range envs {
		t.Run(env.name, func(t *testing.T) {
			l := upLive(t, env, nil)
			const total = 24 << 20 // 24 MiB of stdout, in 3 KiB lines
			big := l.exec("import sys\nline = 'x' * 3071 + '\\n'\nfor i in range(8192):\n    sys.stdout.write(line if i < 8191 else 'the end\\n')")
			out := big.Cell.Outputs
			if len(out) != 1 || out[0].Name != "stdout" {
				t.Fatalf("outputs: %d", len(out))
			}
			text := out[0].Text
			if len(text) > notebook.DefaultOutputLimit+4096 || len(text) < notebook.DefaultOutputLimit/2 {
				t.Fatalf("the cell kept %d bytes of a %d-byte output (limit %d)", len(text), total, notebook.DefaultOutputLimit)
			}
			spill := fmt.Sprintf("sena-outputs/%s/stdout.txt", big.Cell.ID)
			if !strings.HasPrefix(text, strings.Repeat("x", 3071)) || !strings.HasSuffix(text, "the end\n") || !strings.Contains(text, "all of it is in "+spill) {
				t.Fatalf("the kept output lacks its start, its end or the marker: %q ... %q", text[:100], text[len(text)-400:])
			}
			// The local sandbox's work dir is on this machine: read it there
			// (the agent's read_file pages through 8 MiB at most).
			whole, err := os.ReadFile(filepath.Join(l.store.SandboxDir(l.rec.ID), spill))
			if err != nil {
				t.Fatal(err)
			}
			if len(whole) != 8191*3072+len("the end\n") || !strings.HasSuffix(string(whole), "x\nthe end\n") {
				t.Fatalf("%s has %d bytes, want all %d", spill, len(whole), 8191*3072+8)
			}
			info, _ := os.Stat(l.store.NotebookPath(l.rec.ID))
			if info.Size() > 4<<20 {
				t.Fatalf("the notebook mirror is %d bytes after a %d-byte output", info.Size(), total)
			}
			start := time.Now()
			for i := 0; i < 3; i++ {
				l.exec("print(1)")
			}
			if per := time.Since(start) / 3; per > 3*time.Second {
				t.Fatalf("a print(1) takes %v after the big cell", per)
			}
			// A configured limit, and more outputs past it summarised.
			small := upLive(t, env, &core.SandboxConfig{OutputLimitKiB: 64})
			ex := small.exec("import sys\nfor i in range(100):\n    print(i, 'y' * 2000)\n    sys.stderr.write('e%d\\n' % i)")
			size := 0
			for _, o := range ex.Cell.Outputs {
				b, _ := notebook.OutputJSON(o)
				size += len(b)
			}
			last := ex.Cell.Outputs[len(ex.Cell.Outputs)-1].PlainText()
			if size > 96<<10 || !strings.Contains(last, "more output(s)") || !strings.Contains(last, "not kept in the notebook") {
				t.Fatalf("with a 64 KiB limit the cell keeps %d bytes, last output %q", size, last)
			}
			if whole, _, err := small.s.ReadFile(context.Background(), fmt.Sprintf("sena-outputs/%s/stderr.txt", ex.Cell.ID), 0); err != nil || !strings.HasSuffix(string(whole), "e99\n") {
				t.Fatalf("stderr.txt: %d bytes, %v", len(whole), err)
			}
		})
	}
}

// TestCodeOverTheMessageLimit: code a Jupyter server cannot take in one
// message is refused with words saying so, and nothing is appended.
func TestCodeOverTheMessageLimit(t *testing.T) {
	l := upLive(t, fileEnvs(t)[0], nil)
	l.exec("x = 1")
	_, err := l.s.Execute(context.Background(), "s = '"+strings.Repeat("a", 11<<20)+"'", nil)
	if err == nil || !session.IsInputError(err) || !strings.Contains(err.Error(), "too large to run") || !strings.Contains(err.Error(), "Nothing was added") {
		t.Fatalf("11 MiB of code: %v", err)
	}
	if n := len(l.notebook().Cells); n != 1 {
		t.Fatalf("the refused code left %d cells", n)
	}
	if ex := l.exec("print(x)"); ex.Cell.Outputs[0].Text != "1\n" {
		t.Fatalf("after the refusal: %+v", ex.Cell.Outputs)
	}
}

// TestKilledClientKeepsRecording: a client killed mid-cell (kill -9 of
// `sena exec`) loses nothing: the sandbox keeps recording the cell's
// outputs, and the next reader finds the whole cell.
func TestKilledClientKeepsRecording(t *testing.T) {
	for _, env := range append(fileEnvs(t)[:1], collaborativeEnv()) {
		t.Run(env.name, func(t *testing.T) {
			l := upLive(t, env, nil)
			l.exec("import time")
			code := "for i in range(30):\n    print('line', i, flush=True)\n    time.sleep(0.1)\nprint('the end')"
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClient$", "-test.v")
			cmd.Env = append(os.Environ(), "SENA_HELPER_STATE="+l.store.Dir, "SENA_HELPER_SESSION="+l.rec.ID, "SENA_HELPER_CODE="+code)
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() && !strings.Contains(sc.Text(), "OUTPUT line 2") {
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			var cell *notebook.Cell
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				nb := l.notebook()
				cell = nb.Cells[len(nb.Cells)-1]
				if len(cell.Outputs) > 0 && strings.HasSuffix(cell.Outputs[0].Text, "the end\n") {
					break
				}
				time.Sleep(300 * time.Millisecond)
			}
			var want strings.Builder
			for i := 0; i < 30; i++ {
				fmt.Fprintf(&want, "line %d\n", i)
			}
			want.WriteString("the end\n")
			if len(cell.Outputs) != 1 || cell.Outputs[0].Text != want.String() || cell.ExecutionCount == nil {
				t.Fatalf("the killed client's cell: %+v", cell.Outputs)
			}
			// The session goes on, in the same kernel.
			if ex := l.exec("print(i)"); ex.Cell.Outputs[0].Text != "29\n" {
				t.Fatalf("after the killed client: %+v", ex.Cell.Outputs)
			}
		})
	}
}

// TestHelperClient is the client TestKilledClientKeepsRecording kills: it
// runs one cell and prints each output as it arrives.
func TestHelperClient(t *testing.T) {
	state := os.Getenv("SENA_HELPER_STATE")
	if state == "" {
		t.Skip("run by TestKilledClientKeepsRecording")
	}
	store, err := session.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	m := session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)})
	s, err := m.Attach(context.Background(), os.Getenv("SENA_HELPER_SESSION"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Execute(context.Background(), os.Getenv("SENA_HELPER_CODE"), &session.ExecOptions{OnEvent: func(ev kernel.Event) {
		var c struct{ Text string }
		_ = json.Unmarshal(ev.Content, &c)
		fmt.Printf("OUTPUT %s\n", strings.TrimSpace(c.Text))
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentsAndPageTogether: several agents (separate processes' sessions)
// and a page work on one session at once: every execution lands once, in
// the order its call asked, and no cell is lost.
func TestAgentsAndPageTogether(t *testing.T) {
	for _, env := range []liveEnv{fileEnvs(t)[0], collaborativeEnv()} {
		t.Run(env.name, func(t *testing.T) {
			l := upLive(t, env, nil)
			const agents, each = 3, 4
			var wg sync.WaitGroup
			errs := make(chan error, agents*each)
			for a := 0; a < agents; a++ {
				s, err := l.m.Attach(context.Background(), l.rec.ID)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				wg.Go(func() {
					for i := 0; i < each; i++ {
						ex, err := s.Execute(context.Background(), fmt.Sprintf("print('agent %d cell %d')", a, i), nil)
						if err == nil && (len(ex.Cell.Outputs) != 1 || ex.Cell.Outputs[0].Text != fmt.Sprintf("agent %d cell %d\n", a, i)) {
							err = fmt.Errorf("agent %d cell %d got %+v", a, i, ex.Cell.Outputs)
						}
						if err != nil {
							errs <- err
						}
					}
				})
			}
			if env.mode == "file" {
				for i := 0; i < 3; i++ { // a page saving what it has meanwhile
					time.Sleep(300 * time.Millisecond)
					p := l.openPage()
					p.addCell(fmt.Sprintf("page%04d", i), fmt.Sprintf("# page %d", i), "")
					p.save()
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			nb := l.notebook()
			seen := map[string]int{}
			order := map[int]int{}
			for _, c := range nb.Cells {
				seen[c.Source]++
				var a, i int
				if n, _ := fmt.Sscanf(c.Source, "print('agent %d cell %d')", &a, &i); n == 2 {
					if i != order[a] {
						t.Errorf("agent %d's cell %d came after its cell %d", a, i, order[a]-1)
					}
					order[a] = i + 1
				}
			}
			for a := 0; a < agents; a++ {
				for i := 0; i < each; i++ {
					if src := fmt.Sprintf("print('agent %d cell %d')", a, i); seen[src] != 1 {
						t.Errorf("%s is in the notebook %d times", src, seen[src])
					}
				}
			}
			if env.mode == "file" {
				for i := 0; i < 3; i++ {
					if src := fmt.Sprintf("# page %d", i); seen[src] != 1 {
						t.Errorf("the page's %q is in the notebook %d times", src, seen[src])
					}
				}
			}
		})
	}
}
