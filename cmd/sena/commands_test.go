package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook/nbtest"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/urfave/cli/v2"
)

// commandPaths are every command and subcommand a user can type, as
// "exec", "mcp config".
func commandPaths() []string {
	var out []string
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			out = append(out, prefix+c.Name)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp().Commands)
	return out
}

// rawRun runs sena with exactly args (no state dir added), stdin empty.
func (c *senaCLI) rawRun(args ...string) result {
	c.t.Helper()
	cmd := exec.Command(senaBin, args...)
	cmd.Env = append(os.Environ(), append([]string{"SENA_STATE_DIR=" + c.state}, c.env...)...)
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

// noSessions fails when anything was started in c's state dir.
func (c *senaCLI) noSessions(t *testing.T, what string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(c.state, "sessions"))
	if len(entries) > 0 {
		t.Fatalf("%s started something: %v", what, entries)
	}
}

// TestHelpEverywhere: every command and subcommand answers --help, -h and
// `sena help CMD` (also after arguments) with its own usage on stdout,
// exit 0, and starts nothing.
func TestHelpEverywhere(t *testing.T) {
	c := newCLI(t)
	paths := commandPaths()
	if len(paths) < 15 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, path := range paths {
		words := strings.Fields(path)
		forms := [][]string{
			append(slices.Clone(words), "--help"),
			append(slices.Clone(words), "-h"),
			append([]string{"help"}, words...),
			append(slices.Clone(words), "some-arg", "--json", "--help"), // after arguments and a global flag
		}
		for _, args := range forms {
			r := c.run(args...)
			if r.code != 0 || !strings.Contains(r.stdout, "sena "+path+" - ") || !strings.Contains(r.stdout, "USAGE:") || r.stderr != "" {
				t.Errorf("sena %s: exit %d\nstdout %q\nstderr %q; want %q's usage on stdout and exit 0", strings.Join(args, " "), r.code, r.stdout, r.stderr, path)
			}
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		if r := c.run(args...); r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") {
			t.Errorf("sena %v: exit %d, %q", args, r.code, r.stdout)
		}
	}
	c.noSessions(t, "help")
}

// TestUsageErrors: an unknown flag on any command, an unknown command, or a
// flag without its value is a usage error: exit 2, the mistake and the
// nearest right spelling on stderr, nothing on stdout, or with --json an
// error document there.
func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	schemas := loadSchemas(t)
	for _, path := range commandPaths() {
		args := append(strings.Fields(path), "--bogus-flag")
		r := c.run(args...)
		if r.code != 2 || !strings.Contains(r.stderr, "unknown flag --bogus-flag") || r.stdout != "" {
			t.Errorf("sena %s: exit %d, stdout %q, stderr %q; want exit 2 naming --bogus-flag", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		r = c.run(append(args, "--json")...)
		if r.code != 2 {
			t.Errorf("sena %s --json: exit %d", strings.Join(args, " "), r.code)
		}
		e := schemas.check(t, "error", r.stdout)
		if e["error"].(map[string]any)["kind"] != "usage" {
			t.Errorf("sena %s --json: %s, want kind usage", strings.Join(args, " "), r.stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lss"}, `unknown command "lss" for "sena"; did you mean "ls"?`},
		{[]string{"notebok", "x"}, `did you mean "notebook"?`},
		{[]string{"up", "--gpus", "A100"}, "unknown flag --gpus for \"sena up\"; did you mean --gpu?"},
		{[]string{"ls", "--jsn"}, "did you mean --json?"},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"mcp", "config", "--htp"}, "unknown flag --htp"},
		{[]string{"exec", "s1", "code", "--timeout"}, "flag --timeout needs a value"},
		{[]string{"exec", "--timeout", "soon", "s1", "code"}, `invalid value "soon" for flag -timeout`},
		{[]string{"exec", "s1", "-x"}, "code that starts with - goes after --"},
		{[]string{"exec", "s1", "code", "--timeout", "-1s"}, "--timeout -1s: a time to wait is not negative"},
		{[]string{"gc", "--dry-run"}, "--dry-run goes with --images"},
		{[]string{"ls", "extra"}, "ls takes no arguments"},
		{[]string{"completion", "tcsh"}, "unknown shell"},
		{[]string{"--json", "completion", "bash"}, "--json does not apply"},
		{[]string{"--json", "mcp"}, "--json does not apply"},
	} {
		r := c.run(tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout, "USAGE") {
			t.Errorf("sena %s: exit %d, stdout %q, stderr %q; want exit 2 with %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}
	c.noSessions(t, "usage errors")
}

// schemas are docs/schemas/*.schema.json, compiled.
type schemas map[string]*jsonschema.Schema

func loadSchemas(t *testing.T) schemas {
	t.Helper()
	files, err := filepath.Glob("../../docs/schemas/*.schema.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in docs/schemas: %v", err)
	}
	comp := jsonschema.NewCompiler()
	out := schemas{}
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		s, err := comp.Compile(abs)
		if err != nil {
			t.Fatalf("schema %s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".schema.json")] = s
	}
	return out
}

// check validates doc against the named schema and returns it decoded.
func (s schemas) check(t *testing.T, name, doc string) map[string]any {
	t.Helper()
	sch, ok := s[name]
	if !ok {
		t.Fatalf("no schema docs/schemas/%s.schema.json", name)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("not one JSON document (%v):\n%s", err, doc)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("output does not follow docs/schemas/%s.schema.json: %v\n%s", name, err, doc)
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"": v}
}

// TestCommandTable runs every command to each of its documented exit codes,
// with the global flags both before and after the command, and checks
// every --json output against the command's schema in docs/schemas.
func TestCommandTable(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	c := newCLI(t)
	c.env = []string{"HF_ENDPOINT=" + hubSrv.URL, "HF_HUB_CACHE=" + t.TempDir(), "HF_TOKEN="}
	schemas := loadSchemas(t)
	dir := t.TempDir()
	nbFile := filepath.Join(dir, "out.ipynb")
	codeFile := filepath.Join(dir, "code.py")
	os.WriteFile(codeFile, []byte("print('from a file')"), 0o644)

	type row struct {
		args   []string
		code   int
		schema string // of stdout with --json; "" for none
		check  func(t *testing.T, doc map[string]any, r result)
	}
	var id string // the session `up` starts; rows after it use it
	id1 := func() string { return id }
	rows := []struct {
		name string
		row  func() row
	}{
		{"skills", func() row {
			return row{[]string{"skills"}, 0, "skills", func(t *testing.T, doc map[string]any, _ result) {
				if len(doc[""].([]any)) == 0 {
					t.Error("no skills listed")
				}
			}}
		}},
		{"skills usage", func() row { return row{[]string{"skills", "x"}, 2, "error", nil} }},
		{"providers", func() row {
			return row{[]string{"providers"}, 0, "providers", func(t *testing.T, doc map[string]any, _ result) {
				if !strings.Contains(toJSON(doc), `"local"`) {
					t.Errorf("local provider missing: %v", doc)
				}
			}}
		}},
		{"providers usage", func() row { return row{[]string{"providers", "x"}, 2, "error", nil} }},
		{"ls empty", func() row { return row{[]string{"ls"}, 0, "ls", nil} }},
		{"ls usage", func() row { return row{[]string{"ls", "x"}, 2, "error", nil} }},
		{"gc", func() row { return row{[]string{"gc"}, 0, "gc", nil} }},
		{"gc usage", func() row { return row{[]string{"gc", "x"}, 2, "error", nil} }},
		{"pull", func() row {
			return row{[]string{"pull", "sena-test/tiny-llama"}, 0, "pull", func(t *testing.T, doc map[string]any, _ result) {
				if p := doc[""].([]any)[0].(map[string]any); p["env_var"] != "MODEL_SENA_TEST_TINY_LLAMA_PATH" || p["revision"] != "main" {
					t.Errorf("pull: %v", p)
				}
			}}
		}},
		{"pull missing", func() row { return row{[]string{"pull", "sena-test/nosuch"}, 1, "error", nil} }},
		{"pull usage", func() row { return row{[]string{"pull"}, 2, "error", nil} }},
		{"pull bad name", func() row { return row{[]string{"pull", "a/b/c"}, 2, "error", nil} }},
		{"up bad gpu", func() row { return row{[]string{"up", "--gpu", "Z80"}, 2, "error", nil} }},
		{"up unsupported", func() row { return row{[]string{"up", "--python", py, "--gpu", "H100"}, 2, "error", nil} }},
		{"up usage", func() row { return row{[]string{"up", "extra"}, 2, "error", nil} }},
		{"warm dry run", func() row {
			return row{[]string{"warm", "--python", py, "--count", "2", "--dry-run"}, 0, "warm-dry-run", nil}
		}},
		{"warm usage", func() row { return row{[]string{"warm", "--python", py, "--env", "A=1"}, 2, "error", nil} }},
		{"exec no session", func() row { return row{[]string{"exec", "1"}, 1, "error", nil} }},
		{"up", func() row {
			return row{[]string{"up", "--python", py, "--model", "sena-test/tiny-llama"}, 0, "up", func(t *testing.T, doc map[string]any, r result) {
				id = doc["session_id"].(string)
				if !strings.Contains(r.stderr, "model sena-test/tiny-llama: cached") {
					t.Errorf("a pulled model should say cached once: %q", r.stderr)
				}
			}}
		}},
		{"exec", func() row { return row{[]string{"exec", id1(), "x = 41"}, 0, "exec", nil} }},
		{"exec by prefix", func() row {
			return row{[]string{"exec", id1()[:4], "print(x + 1)"}, 0, "exec", func(t *testing.T, doc map[string]any, _ result) {
				if out := doc["outputs"].([]any)[0].(map[string]any); out["output_type"] != "stream" || out["text"] != "42\n" || out["name"] != "stdout" {
					t.Errorf("outputs %v", doc["outputs"])
				}
			}}
		}},
		{"exec the one session", func() row { return row{[]string{"exec", "-f", codeFile}, 0, "exec", nil} }},
		{"exec raises", func() row {
			return row{[]string{"exec", id1(), "1/0"}, 1, "exec", func(t *testing.T, doc map[string]any, _ result) {
				e := doc["outputs"].([]any)[0].(map[string]any)
				if e["ename"] != "ZeroDivisionError" || strings.Contains(toJSON(e), `\u001b`) || doc["status"] != "error" {
					t.Errorf("error output %v: want ZeroDivisionError without ANSI codes", e)
				}
			}}
		}},
		{"exec rich", func() row {
			return row{[]string{"exec", id1(), "from IPython.display import HTML, display; display(HTML('<b>b</b>')); 6 * 7"}, 0, "exec", func(t *testing.T, doc map[string]any, _ result) {
				outs := doc["outputs"].([]any)
				if len(outs) != 2 || outs[0].(map[string]any)["output_type"] != "display_data" || outs[1].(map[string]any)["data"].(map[string]any)["text/plain"] != "42" {
					t.Errorf("outputs %v", outs)
				}
			}}
		}},
		{"exec unknown", func() row { return row{[]string{"exec", "nosuch", "1"}, 1, "error", nil} }},
		{"exec usage", func() row { return row{[]string{"exec"}, 2, "error", nil} }},
		{"exec id without code", func() row { return row{[]string{"exec", id1()}, 2, "error", nil} }},
		{"url", func() row {
			return row{[]string{"url", id1()[:5]}, 0, "url", func(t *testing.T, doc map[string]any, _ result) {
				if !strings.Contains(doc["jupyter_url"].(string), "token=") {
					t.Errorf("url %v", doc)
				}
			}}
		}},
		{"url unknown", func() row { return row{[]string{"url", "nosuch"}, 1, "error", nil} }},
		{"url usage", func() row { return row{[]string{"url", "a", "b"}, 2, "error", nil} }},
		{"connect", func() row {
			return row{[]string{"connect"}, 0, "connect", func(t *testing.T, doc map[string]any, _ result) {
				if !strings.HasSuffix(doc["connection_file"].(string), ".json") {
					t.Errorf("the local provider's kernel runs here: want its connection file, got %v", doc)
				}
			}}
		}},
		{"connect usage", func() row { return row{[]string{"connect", "a", "b"}, 2, "error", nil} }},
		{"notebook", func() row {
			return row{[]string{"notebook", id1(), "-o", nbFile}, 0, "notebook", func(t *testing.T, doc map[string]any, _ result) {
				nbtest.Validate(t, nbFile)
			}}
		}},
		{"notebook unknown", func() row { return row{[]string{"notebook", "nosuch"}, 1, "error", nil} }},
		{"notebook usage", func() row { return row{[]string{"notebook", "a", "b"}, 2, "error", nil} }},
		{"snapshot", func() row { return row{[]string{"snapshot", id1(), "--name", "table-snap"}, 0, "snapshot", nil} }},
		{"snapshot usage", func() row { return row{[]string{"snapshot", "a", "b"}, 2, "error", nil} }},
		{"snapshots", func() row {
			return row{[]string{"snapshots"}, 0, "snapshots", func(t *testing.T, doc map[string]any, _ result) {
				if !strings.Contains(toJSON(doc), `"table-snap"`) {
					t.Errorf("snapshots does not list table-snap: %v", doc)
				}
			}}
		}},
		{"snapshots usage", func() row { return row{[]string{"snapshots", "x"}, 2, "error", nil} }},
		{"ls", func() row {
			return row{[]string{"ls"}, 0, "ls", func(t *testing.T, doc map[string]any, _ result) {
				s := doc[""].([]any)[0].(map[string]any)
				if s["session_id"] != id || s["status"] != "running" || s["models"].([]any)[0] != "sena-test/tiny-llama" {
					t.Errorf("ls: %v", s)
				}
			}}
		}},
		{"quickstart", func() row { return row{[]string{"quickstart", "--python", py}, 0, "quickstart", nil} }},
		{"quickstart usage", func() row { return row{[]string{"quickstart", "x"}, 2, "error", nil} }},
		{"exec ambiguous", func() row {
			return row{[]string{"exec", "s", "1"}, 2, "error", func(t *testing.T, doc map[string]any, r result) {
				if !strings.Contains(r.stderr, "ambiguous") || !strings.Contains(r.stderr, id) {
					t.Errorf("stderr %q: want the matches listed", r.stderr)
				}
			}}
		}},
		{"exec two sessions", func() row { return row{[]string{"exec", "1"}, 2, "error", nil} }},
		{"mcp config", func() row { return row{[]string{"mcp", "config"}, 0, "mcp-config", nil} }},
		{"mcp config usage", func() row { return row{[]string{"mcp", "config", "x"}, 2, "error", nil} }},
		{"mcp usage", func() row { return row{[]string{"mcp", "x"}, 2, "error", nil} }},
		{"down unknown", func() row { return row{[]string{"down", "nosuch"}, 1, "down", nil} }},
		{"down usage", func() row { return row{[]string{"down"}, 2, "error", nil} }},
		{"down", func() row {
			return row{[]string{"down", id1()}, 0, "down", func(t *testing.T, doc map[string]any, _ result) {
				if len(doc["stopped"].([]any)) != 1 {
					t.Errorf("down: %v", doc)
				}
			}}
		}},
		{"notebook after down", func() row { return row{[]string{"notebook", id1()[:6], "-o", nbFile}, 0, "notebook", nil} }},
		{"down all", func() row { return row{[]string{"down", "--all"}, 0, "down", nil} }},
	}
	covered := map[string]map[int]bool{}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			r0 := tc.row()
			// The rows that change state run once, with the global flags
			// after the command; the others also with them before it.
			orders := [][]string{append(slices.Clone(r0.args), "--state-dir", c.state, "--json")}
			if !changesState(r0.args) {
				orders = append(orders, append([]string{"--json", "--state-dir", c.state}, r0.args...))
			}
			for _, args := range orders {
				r := c.rawRun(args...)
				if r.code != r0.code {
					t.Fatalf("sena %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), r.code, r0.code, r.stdout, r.stderr)
				}
				doc := schemas.check(t, r0.schema, r.stdout)
				if r0.check != nil {
					r0.check(t, doc, r)
				}
			}
		})
		r0 := tc.row()
		if covered[r0.args[0]] == nil {
			covered[r0.args[0]] = map[int]bool{}
		}
		covered[r0.args[0]][r0.code] = true
	}
	// Every command ran to success and to a usage error.
	for _, path := range commandPaths() {
		name := strings.Fields(path)[0]
		if name == "completion" {
			continue // TestCompletion
		}
		if !covered[name][0] || !covered[name][2] {
			t.Errorf("command %s: exit codes covered %v, want 0 and 2", name, covered[name])
		}
	}
}

// changesState: rows that start or stop sessions run once.
func changesState(args []string) bool {
	switch args[0] {
	case "up", "quickstart", "down", "snapshot":
		return true
	case "exec":
		return len(args) > 2 && args[2] == "x = 41"
	}
	return false
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCtrlC: Ctrl-C (SIGINT) during exec interrupts the cell, keeps the
// kernel's state and exits 130; during up it tears down and exits 130.
func TestCtrlC(t *testing.T) {
	c := newCLI(t)
	u := c.up("--python", jupytertest.Interpreters(t)[0].Path)
	c.ok("exec", u.SessionID, "x = 7")
	cmd := exec.Command(senaBin, "--state-dir", c.state, "exec", u.SessionID, "import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
	out := &lockedBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "sleeping") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || time.Since(start) > 20*time.Second {
		t.Fatalf("exec after Ctrl-C: %v after %s, want exit 130 soon", err, time.Since(start))
	}
	if r := c.ok("exec", u.SessionID, "print(x)"); r.stdout != "7\n" {
		t.Fatalf("the kernel's state after Ctrl-C: %q", r.stdout)
	}

	up, _ := c.upUntil(t, "starting jupyter_server")
	up.Process.Signal(syscall.SIGINT)
	err = up.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("up after Ctrl-C: %v, want exit 130", err)
	}
	var ls []any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 1 {
		t.Fatalf("interrupted up left sessions: %v", ls)
	}
}
