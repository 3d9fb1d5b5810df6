package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook"
)

// The adversarial checks of the hardening pass, kept as suites: each prints
// what it tried and what survived, was lost or leaked, and fails on any
// loss or leak.

// TestFaultMatrix kills each part at each phase: sena itself (kill -9)
// while up brings a sandbox up, and the Jupyter server under a running
// cell. Nothing may be left that `sena gc` cannot remove, and no cell that
// was asked for may vanish from the notebook.
func TestFaultMatrix(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	tried, survived, lost, leaked := 0, 0, 0, 0
	defer func() {
		t.Logf("fault matrix: tried %d, survived %d, lost %d, leaked %d", tried, survived, lost, leaked)
	}()
	for _, phase := range []string{"creating local sandbox", "waiting for Jupyter", "checking the environment"} {
		t.Run("kill sena at "+phase, func(t *testing.T) {
			tried++
			c := newCLI(t)
			cmd, errb := c.upWith(t, phase, "up", "--python", py)
			cmd.Process.Kill()
			cmd.Wait()
			if phase == "waiting for Jupyter" { // down --all cleans up an abandoned session too
				if r := c.run("down", "--all"); r.code != 0 {
					t.Errorf("down --all with an abandoned session: exit %d, %s", r.code, r.stderr)
				}
			} else {
				c.run("gc")
			}
			var ls []any
			json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
			if r := c.ok("--provider", "local", "gc"); len(ls) != 0 || !strings.Contains(r.stdout, "nothing to remove") {
				leaked++
				t.Fatalf("after kill -9 at %q and gc: sessions %v, gc %q\n%s", phase, ls, r.stdout, errb.String())
			}
			survived++
		})
	}
	t.Run("kill the plugin during Create", func(t *testing.T) {
		tried++
		dir := t.TempDir()
		plugin := filepath.Join(dir, "sena-provider-localplug")
		if out, err := exec.Command("go", "build", "-o", plugin, "../../providers/local/cmd/sena-provider-local").CombinedOutput(); err != nil {
			t.Fatalf("build the plugin: %v\n%s", err, out)
		}
		c := newCLI(t)
		c.env = append(c.env, "SENA_PLUGIN_DIR="+dir)
		cmd, errb := c.upWith(t, "starting jupyter_server", "--provider", "localplug", "up", "--python", py)
		if pids := pidsOf(plugin); len(pids) != 1 || syscall.Kill(pids[0], syscall.SIGKILL) != nil {
			t.Fatalf("kill the plugin: pids %v", pids)
		}
		err := cmd.Wait()
		if err == nil {
			t.Fatalf("up succeeded with its plugin killed mid-Create:\n%s", errb.String())
		}
		// up cleaned up through a fresh plugin, or says to run gc.
		var ls []map[string]any
		json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
		if len(ls) > 0 && (ls[0]["status"] != "abandoned" || !strings.Contains(errb.String(), "sena gc")) {
			t.Errorf("after the plugin died: %v, stderr %s; want nothing left, or an abandoned session and the advice to run sena gc", ls, errb.String())
		}
		c.run("--provider", "localplug", "gc")
		json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
		if r := c.ok("--provider", "localplug", "gc"); len(ls) != 0 || !strings.Contains(r.stdout, "nothing to remove") {
			leaked++
			t.Fatalf("after the plugin died: sessions %v, gc %q\n%s", ls, r.stdout, errb.String())
		}
		survived++
	})
	t.Run("kill the Jupyter server under a running cell", func(t *testing.T) {
		tried++
		c := newCLI(t)
		u := c.up("--python", py)
		server, _ := strconv.Atoi(strings.TrimSpace(c.ok("exec", u.SessionID, "import os; print(os.getppid())").stdout))
		done := make(chan result, 1)
		go func() {
			done <- c.run("exec", u.SessionID, "print('started', flush=True)\nimport time; time.sleep(60)")
		}()
		time.Sleep(2 * time.Second)
		if server <= 1 || syscall.Kill(server, syscall.SIGKILL) != nil {
			t.Fatalf("kill the server (pid %d)", server)
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(45 * time.Second):
			t.Fatal("exec hangs after its server was killed")
		}
		if r.code == 0 || r.stderr == "" {
			t.Errorf("exec after its server was killed: exit %d, stderr %q; want a failure that says what happened", r.code, r.stderr)
		}
		nb, err := notebook.ReadFile(u.NotebookPath)
		if err != nil || len(nb.Cells) < 2 || !strings.Contains(nb.Cells[len(nb.Cells)-1].Source, "time.sleep(60)") {
			lost++
			t.Fatalf("the running cell is not in the notebook: %v", err)
		}
		c.ok("down", u.SessionID)
		assertNothingLeft(t, c)
		survived++
	})
	if lost+leaked > 0 {
		t.Fail()
	}
}

// TestLoad runs many executions at once: several sessions, each with
// parallel `sena exec` processes, and one session driven by the CLI and an
// MCP server at the same time. Every execution lands in its session's
// notebook exactly once, with its own output.
func TestLoad(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	const sessions, perSession, mixed = 3, 8, 10
	c := newCLI(t)
	var ups []upOut
	for i := 0; i < sessions; i++ {
		ups = append(ups, c.up("--python", py))
	}
	mcpClient := startMCP(t, c)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	want := map[string][]string{} // session -> tags its notebook must hold
	run := func(id, tag string, viaMCP bool) {
		defer wg.Done()
		code := fmt.Sprintf("print(%q)", tag)
		var out string
		if viaMCP {
			res, err := mcpClient.CallTool(context.Background(), &sdk.CallToolParams{Name: "execute_code", Arguments: map[string]any{"session_id": id, "code": code}})
			if err == nil && !res.IsError {
				for _, ct := range res.Content {
					if tc, ok := ct.(*sdk.TextContent); ok {
						out += tc.Text
					}
				}
			}
		} else {
			out = c.run("exec", id, code).stdout
		}
		mu.Lock()
		defer mu.Unlock()
		want[id] = append(want[id], tag)
		if !strings.Contains(out, tag) {
			failed++
		}
	}
	for i, u := range ups {
		for j := 0; j < perSession; j++ {
			wg.Add(1)
			go run(u.SessionID, fmt.Sprintf("load-%d-%d", i, j), false)
		}
	}
	for j := 0; j < mixed; j++ {
		wg.Add(2)
		go run(ups[0].SessionID, fmt.Sprintf("cli-%d", j), false)
		go run(ups[0].SessionID, fmt.Sprintf("mcp-%d", j), true)
	}
	wg.Wait()
	tried, lostN, dup, wrong := 0, 0, 0, 0
	for _, u := range ups {
		nb, err := notebook.ReadFile(u.NotebookPath)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, cell := range nb.Cells {
			m := regexp.MustCompile(`print\("((?:load|cli|mcp)-[\d-]+)"\)`).FindStringSubmatch(cell.Source)
			if m == nil {
				continue
			}
			seen[m[1]]++
			if !strings.Contains(cellOutput(cell), m[1]) {
				wrong++ // another cell's output, or none
			}
		}
		for _, tag := range want[u.SessionID] {
			tried++
			switch seen[tag] {
			case 0:
				lostN++
			case 1:
			default:
				dup++
			}
		}
	}
	t.Logf("load: %d executions on %d sessions (%d mixed CLI and MCP on one): lost %d, duplicated %d, with the wrong output %d, failed calls %d",
		tried, sessions, 2*mixed, lostN, dup, wrong, failed)
	if lostN+dup+wrong+failed > 0 {
		t.Fail()
	}
}

// startMCP runs `sena mcp` over stdio with the official Go SDK as client.
func startMCP(t *testing.T, c *senaCLI) *sdk.ClientSession {
	t.Helper()
	cmd := exec.Command(senaBin, "--state-dir", c.state, "mcp")
	cmd.Env = append(os.Environ(), c.env...)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "load"}, nil).Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestSecretSearch plants two secrets, one passed with --secret and one
// only in the shell, goes through a session's whole life, and searches
// every file Sena and Jupyter wrote (state dir, work dirs, logs,
// notebooks, the model cache) and every process's command line for them.
func TestSecretSearch(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	passed := "sena-planted-" + randHex(8)
	shellOnly := "sena-shell-" + randHex(8)
	c := newCLI(t)
	c.env = append(c.env, "SENA_TEST_PASSED="+passed, "SENA_TEST_SHELL_ONLY="+shellOnly)
	u := c.up("--python", py, "--secret", "SENA_TEST_PASSED")
	places, leaks := 0, 0
	search := func(where string, data []byte) {
		places++
		for _, s := range []string{passed, shellOnly} {
			if strings.Contains(string(data), s) {
				leaks++
				t.Errorf("a secret is in %s", where)
			}
		}
	}
	if got := strings.TrimSpace(c.ok("exec", u.SessionID, "import os, hashlib; print(len(os.environ['SENA_TEST_PASSED']), os.environ.get('SENA_TEST_SHELL_ONLY'))").stdout); got != fmt.Sprintf("%d None", len(passed)) {
		t.Fatalf("in the kernel: %q; want the passed secret and not the shell's", got)
	}
	outputs := []string{c.ok("--json", "ls").stdout, c.ok("ls").stdout, c.ok("exec", u.SessionID, "print('no secret here')").stderr}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, _ := os.ReadFile(p)
		search(p, data)
	}
	c.ok("notebook", "-o", filepath.Join(c.state, "copy.ipynb"), u.SessionID)
	c.ok("down", u.SessionID)
	for i, o := range outputs {
		search(fmt.Sprintf("command output %d", i), []byte(o))
	}
	filepath.Walk(c.state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			search(p, data)
		}
		return nil
	})
	t.Logf("secret search: %d places searched for 2 planted secrets, %d leaked", places, leaks)
}

// cellOutput is the text a cell's outputs show.
func cellOutput(c *notebook.Cell) string {
	var b strings.Builder
	for i := range c.Outputs {
		b.WriteString(c.Outputs[i].PlainText())
	}
	return b.String()
}

// upWith starts sena with args in the background and returns once its
// progress on stderr shows marker.
func (c *senaCLI) upWith(t *testing.T, marker string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(senaBin, append([]string{"--state-dir", c.state}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(errb.String(), marker) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("sena %v never showed %q: %s", args, marker, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, errb
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pidsOf lists the processes running the executable at path.
func pidsOf(path string) []int {
	var pids []int
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, e := range exes {
		if target, err := os.Readlink(e); err == nil && target == path {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
			pids = append(pids, pid)
		}
	}
	return pids
}
