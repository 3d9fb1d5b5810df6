package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
	"github.com/sena-labs/sena/core/notebook/nbtest"
)

// These tests drive the real sena binary against real jupyter_servers, as a
// user would from a shell.

var senaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sena-cli-test")
	if err != nil {
		panic(err)
	}
	senaBin = filepath.Join(dir, "sena")
	if out, err := exec.Command("go", "build", "-o", senaBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sena: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs sena with its own state dir.
type senaCLI struct {
	t     *testing.T
	state string
	env   []string
}

func newCLI(t *testing.T) *senaCLI {
	c := &senaCLI{t: t, state: t.TempDir()}
	t.Cleanup(func() { c.run("down", "--all") })
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *senaCLI) runIn(stdin string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(senaBin, append([]string{"--state-dir", c.state}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run sena %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func (c *senaCLI) run(args ...string) result { return c.runIn("", args...) }

func (c *senaCLI) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("sena %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

type upOut struct {
	SessionID    string `json:"session_id"`
	SandboxID    string `json:"sandbox_id"`
	Provider     string `json:"provider"`
	JupyterURL   string `json:"jupyter_url"`
	NotebookPath string `json:"notebook_path"`
}

func (c *senaCLI) up(args ...string) upOut {
	c.t.Helper()
	r := c.ok(append([]string{"--json", "up"}, args...)...)
	var u upOut
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		c.t.Fatalf("up --json printed %q: %v", r.stdout, err)
	}
	return u
}

func TestNotebookSessionLifecycle(t *testing.T) {
	for _, py := range jupytertest.Interpreters(t) {
		t.Run(py.Name, func(t *testing.T) {
			c := newCLI(t)
			u := c.up("--python", py.Path)
			if u.SessionID == "" || u.Provider != "local" || !strings.Contains(u.JupyterURL, "token=") {
				t.Fatalf("up output incomplete: %+v", u)
			}
			// The URL opens Jupyter with the token included.
			resp, err := http.Get(strings.Replace(u.JupyterURL, "/lab/tree/"+u.SessionID+".ipynb", "/api/status", 1))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 && !strings.Contains(u.JupyterURL, "/lab/") {
				t.Fatalf("jupyter_url does not authenticate: %d", resp.StatusCode)
			}

			c.ok("exec", u.SessionID, "x = 41")
			if r := c.ok("exec", u.SessionID, "print(x + 1)"); r.stdout != "42\n" {
				t.Fatalf("state did not persist: %q", r.stdout)
			}
			if r := c.runIn("y = x * 2\nprint(y)\n", "exec", u.SessionID, "-"); r.code != 0 || r.stdout != "82\n" {
				t.Fatalf("exec from stdin: %+v", r)
			}
			f := filepath.Join(t.TempDir(), "code.py")
			os.WriteFile(f, []byte("print('from file')"), 0o644)
			if r := c.ok("exec", "-f", f, u.SessionID); r.stdout != "from file\n" {
				t.Fatalf("exec -f: %q", r.stdout)
			}
			r := c.run("exec", u.SessionID, "1/0")
			if r.code != 1 || !strings.Contains(r.stderr, "ZeroDivisionError") {
				t.Fatalf("raising code: exit %d, stderr %q; want 1 and the traceback", r.code, r.stderr)
			}
			start := time.Now()
			r = c.run("exec", "--timeout", "2s", u.SessionID, "import time; time.sleep(60)")
			if r.code != 1 || time.Since(start) > 30*time.Second || !strings.Contains(r.stderr, "interrupted") {
				t.Fatalf("timeout: exit %d after %s, stderr %q", r.code, time.Since(start), r.stderr)
			}
			if r := c.ok("exec", u.SessionID, "print(x)"); r.stdout != "41\n" {
				t.Fatalf("state lost after interrupt: %q", r.stdout)
			}

			var ls []map[string]any
			json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
			if len(ls) != 1 || ls[0]["session_id"] != u.SessionID || ls[0]["status"] != "running" {
				t.Fatalf("ls --json: %v", ls)
			}
			table := c.ok("ls").stdout
			for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
				if len(line) > 100 {
					t.Errorf("ls line of %d characters: %q", len(line), line)
				}
			}
			if f := strings.Fields(table); len(f) < 6 || strings.Join(f[:6], " ") != "SESSION STATUS PROVIDER GPU AGE MODELS" || !strings.Contains(table, u.SessionID+"  running  local") {
				t.Errorf("ls table:\n%s", table)
			}
			if wide := c.ok("ls", "--wide").stdout; !strings.Contains(wide, u.JupyterURL) || strings.Contains(table, "token=") {
				t.Errorf("the URL belongs in ls --wide only:\n%s\n%s", table, wide)
			}

			// Piped, `sena notebook ID` writes the notebook to stdout.
			piped := c.ok("notebook", u.SessionID[:5])
			pipedFile := filepath.Join(t.TempDir(), "piped.ipynb")
			os.WriteFile(pipedFile, []byte(piped.stdout), 0o644)
			nbtest.Validate(t, pipedFile)

			out := filepath.Join(t.TempDir(), "out.ipynb")
			c.ok("notebook", "-o", out, u.SessionID)
			nbtest.Validate(t, out)
			nb, err := notebook.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(nb.Cells) != 7 || nb.Cells[1].Outputs[0].Text != "42\n" {
				t.Fatalf("notebook has %d cells, want 7 with outputs; second: %+v", len(nb.Cells), nb.Cells[1])
			}
			if ec := nb.Cells[1].ExecutionCount; ec == nil || *ec != 2 {
				t.Errorf("execution counts should number the cells: %v", ec)
			}

			c.ok("down", u.SessionID)
			if _, err := http.Get(strings.Split(u.JupyterURL, "?")[0]); err == nil {
				t.Errorf("jupyter still answers after down")
			}
			if r := c.run("exec", u.SessionID, "1"); r.code == 0 || !strings.Contains(r.stderr, "no session") {
				t.Errorf("exec after down: %+v", r)
			}
			if _, err := os.Stat(u.NotebookPath); err != nil {
				t.Errorf("the notebook mirror must outlive the session: %v", err)
			}
			c.ok("notebook", "-o", out, u.SessionID) // still readable after down
		})
	}
}

// TestConcurrentExecsQueue runs several sena processes at once on one
// session: every cell lands, in one valid notebook.
// TestConnectSharesTheKernel: the connection file `sena connect` prints
// lets jupyter_client (what `jupyter console --existing` uses) run code in
// the same kernel, with the state `sena exec` left there.
func TestConnectSharesTheKernel(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	u := c.up("--python", py)
	c.ok("exec", u.SessionID, "shared = 'set by sena exec'")
	var conn struct {
		ConnectionFile string `json:"connection_file"`
		Token          string `json:"token"`
		ServerURL      string `json:"server_url"`
	}
	if err := json.Unmarshal([]byte(c.ok("--json", "connect", u.SessionID[:6]).stdout), &conn); err != nil || conn.ConnectionFile == "" {
		t.Fatalf("connect: %+v %v", conn, err)
	}
	if !strings.Contains(c.ok("connect").stdout, "jupyter console --existing "+conn.ConnectionFile) {
		t.Error("connect does not say how to use the connection file with jupyter console")
	}
	code := `import sys
from jupyter_client import BlockingKernelClient
kc = BlockingKernelClient(connection_file=sys.argv[1])
kc.load_connection_file()
kc.start_channels()
kc.wait_for_ready(timeout=30)
out = []
kc.execute_interactive("print(shared)", output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=30)
print("".join(out), end="")`
	got, err := exec.Command(py, "-c", code, conn.ConnectionFile).CombinedOutput()
	if err != nil || string(got) != "set by sena exec\n" {
		t.Fatalf("jupyter_client on the connection file: %q %v", got, err)
	}
}

func TestConcurrentExecsQueue(t *testing.T) {
	c := newCLI(t)
	u := c.up("--python", jupytertest.Interpreters(t)[0].Path)
	c.ok("exec", u.SessionID, "hits = []")
	const n = 6
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.ok("exec", u.SessionID, fmt.Sprintf("import time; time.sleep(0.2); hits.append(%d); print(%d)", i, i))
		}(i)
	}
	wg.Wait()
	if r := c.ok("exec", u.SessionID, "print(len(hits))"); r.stdout != fmt.Sprintf("%d\n", n) {
		t.Fatalf("hits: %q", r.stdout)
	}
	nbtest.Validate(t, u.NotebookPath)
	nb, err := notebook.ReadFile(u.NotebookPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(nb.Cells) != n+2 {
		t.Fatalf("notebook has %d cells, want %d", len(nb.Cells), n+2)
	}
	for _, cell := range nb.Cells[1 : n+1] {
		if len(cell.Outputs) != 1 || cell.ExecutionCount == nil {
			t.Fatalf("cell %q lost its outputs or count: %+v", cell.Source, cell)
		}
	}
}

func TestCLISession(t *testing.T) {
	c := newCLI(t)
	u := c.up("--python", jupytertest.Interpreters(t)[0].Path, "--mode", "cli")
	if r := c.ok("exec", u.SessionID, "echo hello; echo warn >&2"); r.stdout != "hello\n" || r.stderr != "warn\n" {
		t.Fatalf("shell exec: %+v", r)
	}
	if r := c.run("exec", u.SessionID, "exit 7"); r.code != 7 || r.stderr != "" {
		t.Fatalf("exit status: %+v, want exit 7 and no traceback", r)
	}
	nbtest.Validate(t, u.NotebookPath)
}

func TestBadInput(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	bogusDir := t.TempDir()
	os.WriteFile(filepath.Join(bogusDir, "sena-provider-bogus"), []byte("#!/bin/sh\necho hello\n"), 0o755)
	badCfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badCfg, []byte("gpu: A100\nmodles: [x]\n"), 0o644)
	noJupyter := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command("/usr/bin/python3", "-m", "venv", "--without-pip", noJupyter).CombinedOutput(); err != nil {
		t.Fatalf("make a venv without jupyter: %v %s", err, out)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown provider", []string{"--provider", "nosuch", "up"}, 2, `unknown provider "nosuch"`},
		{"malformed config", []string{"up", "-f", badCfg}, 2, "modles"},
		{"missing config", []string{"up", "-f", "/nonexistent.yaml"}, 2, "nonexistent.yaml"},
		{"unknown gpu", []string{"up", "--gpu", "Z80"}, 2, "unknown GPU kind"},
		{"gpu the host lacks", []string{"up", "--python", py, "--gpu", "H100"}, 2, "H100"},
		{"unknown session", []string{"exec", "nosuch", "1"}, 1, `no session "nosuch"`},
		{"exec usage", []string{"exec", "a", "b", "c"}, 2, "[SESSION] CODE"},
		{"exec with no session", []string{"exec", "1"}, 1, "no session is running"},
		{"python without jupyter", []string{"up", "--python", filepath.Join(noJupyter, "bin", "python3")}, 2, "jupyter"},
		{"not a plugin", []string{"--plugin-dir", bogusDir, "--provider", "bogus", "up"}, 1, "sena-provider-bogus"},
		{"image on local", []string{"up", "--image", "x"}, 2, "--image"},
		{"memory on local", []string{"up", "--python", py, "--memory", "512"}, 2, "--memory"},
		{"system package on local", []string{"up", "--python", py, "--system-package", "cowsay"}, 2, "--system-package"},
		{"fractional cpus on local", []string{"up", "--python", py, "--cpus", "0.5"}, 2, "whole number"},
		{"unknown provider option", []string{"up", "--provider-option", "pyhton=/usr/bin/python3"}, 2, "no such option; its options are acknowledge_visible_models, python"},
		{"malformed provider option", []string{"up", "--provider-option", "python"}, 2, "KEY=VALUE"},
		{"python and its option disagree", []string{"up", "--python", py, "--provider-option", "python=/other"}, 2, "disagree"},
		{"bad env", []string{"up", "--env", "novalue"}, 2, "KEY=VALUE"},
		{"missing secret", []string{"up", "--python", py, "--secret", "SENA_TEST_NO_SUCH_SECRET"}, 2, "SENA_TEST_NO_SUCH_SECRET is not set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
	// Nothing was left behind by any of them.
	var ls []any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 0 {
		t.Fatalf("failed ups left sessions: %v", ls)
	}
	assertNoLocalSandboxes(t, c)
}

// TestInterruptedUpLeavesNothing sends Ctrl-C (SIGINT) to `sena up` while
// Jupyter starts.
func TestInterruptedUpLeavesNothing(t *testing.T) {
	c := newCLI(t)
	cmd, errb := c.upUntil(t, "starting jupyter_server")
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if err == nil {
		t.Logf("up finished before the interrupt arrived; down cleans it")
		c.ok("down", "--all")
	}
	var ls []any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 0 {
		t.Fatalf("interrupted up left sessions: %v\n%s", ls, errb.String())
	}
	assertNoLocalSandboxes(t, c)
}

// assertNoLocalSandboxes checks the process table, where the local
// provider's sandboxes live, through `sena gc`.
func assertNoLocalSandboxes(t *testing.T, c *senaCLI) {
	t.Helper()
	if r := c.ok("--provider", "local", "gc"); !strings.Contains(r.stdout, "nothing to remove") {
		t.Fatalf("sandboxes were left running: %s", r.stdout)
	}
}

// TestGCAfterKilledUp kills `sena up` with SIGKILL while Jupyter starts:
// nothing can clean up then, so `sena gc` must find and remove what it left.
func TestGCAfterKilledUp(t *testing.T) {
	c := newCLI(t)
	cmd, _ := c.upUntil(t, "waiting for Jupyter")
	cmd.Process.Kill()
	cmd.Wait()
	var ls []map[string]any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 1 || ls[0]["status"] != "abandoned" {
		t.Fatalf("ls after kill -9: %v, want one abandoned session", ls)
	}
	if r := c.ok("gc"); !strings.Contains(r.stdout, "removed") {
		t.Fatalf("gc: %q", r.stdout)
	}
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 0 {
		t.Fatalf("ls after gc: %v", ls)
	}
	assertNoLocalSandboxes(t, c)
}

// upUntil starts `sena up` in the background and returns once its progress
// on stderr shows marker, that is, while the sandbox is being brought up.
func (c *senaCLI) upUntil(t *testing.T, marker string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(senaBin, "--state-dir", c.state, "up", "--python", jupytertest.Interpreters(t)[0].Path)
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), marker) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("up never showed %q: %s", marker, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, errb
}

// lockedBuffer is a bytes.Buffer that a child's output and the test can
// use at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The third-party case: a minimal plugin that declares only files.
// Everything it would have ignored is refused before Create, with exit 2,
// and `sena providers` says what it honours.
func TestPluginFieldsRefusedBeforeCreate(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "sena-provider-mini"), "../../examples/miniprovider/cmd/sena-provider-mini").CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin: %v\n%s", err, out)
	}
	c := newCLI(t)
	c.env = append(c.env, "SENA_PLUGIN_DIR="+dir)
	for _, tc := range []struct{ flag, value string }{
		{"--package", "some-pkg"}, {"--system-package", "cowsay"}, {"--memory", "64"}, {"--timeout", "30s"}, {"--cpus", "1"},
	} {
		r := c.run("--provider", "mini", "up", "--provider-option", "python="+py, tc.flag, tc.value)
		if r.code != 2 || !strings.Contains(r.stderr, "provider mini does not honour") || !strings.Contains(r.stderr, tc.flag) {
			t.Errorf("up %s %s on mini: exit %d, stderr %q; want exit 2 naming the setting", tc.flag, tc.value, r.code, r.stderr)
		}
	}
	if r := c.run("--provider", "mini", "up", "--provider-option", "pyhton="+py); r.code != 2 || !strings.Contains(r.stderr, "its options are python") {
		t.Errorf("an unknown option: exit %d, stderr %q", r.code, r.stderr)
	}
	out := c.ok("providers").stdout
	if !strings.Contains(out, "honours: files; options: python") {
		t.Errorf("sena providers does not say what mini honours:\n%s", out)
	}
	// What it does declare works, from the plugin binary.
	up := c.up("--provider", "mini", "--provider-option", "python="+py)
	if r := c.ok("exec", up.SessionID, "print(6 * 7)"); strings.TrimSpace(r.stdout) != "42" {
		t.Errorf("exec through the mini plugin printed %q", r.stdout)
	}
	c.ok("down", up.SessionID)
	var ls []any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 0 {
		t.Fatalf("sessions left: %v", ls)
	}
}
