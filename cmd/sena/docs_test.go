package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/urfave/cli/v2"
)

// docFiles are the documents that show sena command lines.
func docFiles(t *testing.T) []string {
	files := []string{"../../README.md", "../../SKILL.md"}
	more, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	prov, _ := filepath.Glob("../../providers/*/README.md")
	return append(append(files, more...), prov...)
}

// docLine is a command line shown in a code block.
type docLine struct {
	file, line string
	console    bool     // a ```console block: the lines after it are its output
	output     []string // what the document says it prints
}

// codeLines reads the sena command lines of the sh, bash, shell and
// console code blocks of a markdown file ("$ " prompts dropped).
func codeLines(t *testing.T, file string) []docLine {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docLine
	lang, in, prompts := "", false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		trim := strings.TrimSpace(l)
		if strings.HasPrefix(trim, "```") {
			if in {
				in = false
				continue
			}
			in, lang, prompts = true, strings.TrimPrefix(trim, "```"), false
			continue
		}
		if !in || !slices.Contains([]string{"sh", "bash", "shell", "console"}, lang) {
			continue
		}
		cmd, isPrompt := strings.CutPrefix(trim, "$ ")
		prompts = prompts || isPrompt
		if prompts && !isPrompt { // output of the command above
			if n := len(out); n > 0 && out[n-1].file == file && out[n-1].console {
				out[n-1].output = append(out[n-1].output, l)
			}
			continue
		}
		if strings.HasPrefix(cmd, "sena ") {
			out = append(out, docLine{file: file, line: cmd, console: lang == "console"})
		}
	}
	return out
}

// runsForReal: what a local session here can do. The others (GPUs,
// remote providers, real Hub models, a server that runs until stopped) are
// checked with --dry-run.
func runsForReal(line string) bool {
	for _, w := range []string{"--gpu", "--provider modal", "--provider docker", "--model google/", "--image", "sena mcp --http", "sena mcp\n"} {
		if strings.Contains(line+"\n", w) {
			return false
		}
	}
	return !strings.HasPrefix(line, "sena up ") || strings.Contains(line, "--python")
}

var placeholder = regexp.MustCompile(`\b(SESSION_ID|SESSION|ID|s1a2b3c4d5e6|s1a2)\b`)

// TestDocsCommandLines runs every sena command line the README, SKILL.md
// and docs/ show in code blocks, in order, through bash, as a reader would
// paste it: for real against a local session where one can (ids in the
// text replaced by a real one), with --dry-run where it needs what is not
// here (a GPU, Modal, a model on huggingface.co). Each must succeed, and a
// console block's output must be what the document shows. Command lines in
// the prose are checked for unknown commands and flags.
func TestDocsCommandLines(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	c := newCLI(t)
	work, bin, home := t.TempDir(), t.TempDir(), t.TempDir()
	os.Symlink(senaBin, filepath.Join(bin, "sena"))
	os.WriteFile(filepath.Join(work, "step.py"), []byte("print('a step')\n"), 0o644)
	os.MkdirAll(filepath.Join(home, ".config", "fish", "completions"), 0o755) // as fish makes it
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "HOME="+home, "SENA_STATE_DIR="+c.state,
		"HF_ENDPOINT="+hubSrv.URL, "HF_HUB_CACHE="+t.TempDir(), "HF_TOKEN=", "SENA_PROVIDER=local", "NO_COLOR=1")
	run := func(line string) result {
		cmd := exec.Command("bash", "--norc", "-c", line)
		cmd.Dir, cmd.Env = work, env
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{o.String(), e.String(), code}
	}
	// session is the running session lines refer to, brought up when a
	// line needs one. It stands in for the docs' `--model
	// google/gemma-2-9b-it` with the variable that model would set.
	session := func() string {
		var ls []map[string]any
		json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
		for _, s := range ls {
			if s["status"] == "running" {
				return s["session_id"].(string)
			}
		}
		return c.up("--python", py, "--env", "MODEL_GOOGLE_GEMMA_2_9B_IT_PATH="+work).SessionID
	}

	var lines []docLine
	for _, f := range docFiles(t) {
		lines = append(lines, codeLines(t, f)...)
	}
	if len(lines) < 15 {
		t.Fatalf("found only %d command lines in the docs", len(lines))
	}
	for _, dl := range lines {
		line := dl.line
		real := runsForReal(line)
		if placeholder.MatchString(line) {
			id := session()
			line = placeholder.ReplaceAllStringFunc(line, func(p string) string {
				if p == "s1a2" {
					return id[:5]
				}
				return id
			})
		} else if real && needsSession(line) {
			session()
		}
		if !real {
			line = strings.Replace(line, "sena ", "sena --dry-run ", 1)
		}
		r := run(line)
		t.Logf("%s: %s -> exit %d", filepath.Base(dl.file), line, r.code)
		where := filepath.Base(dl.file) + ": " + dl.line
		if dl.console {
			for _, want := range dl.output {
				if !strings.Contains(r.stdout+r.stderr, strings.TrimSpace(want)) {
					t.Errorf("%s\nprinted %q, the document shows %q", where, r.stdout+r.stderr, want)
				}
			}
			continue
		}
		if r.code != 0 {
			t.Errorf("%s\nran as: %s\nexit %d\nstdout %s\nstderr %s", where, line, r.code, r.stdout, r.stderr)
		}
	}

	// Command lines in the prose (`sena ...` in backticks): commands and flags exist.
	app := newApp()
	span := regexp.MustCompile("`(sena [^`]*)`")
	for _, f := range docFiles(t) {
		data, _ := os.ReadFile(f)
		for _, m := range span.FindAllStringSubmatch(string(data), -1) {
			if err := checkSpan(app, m[1]); err != "" {
				t.Errorf("%s: `%s`: %s", filepath.Base(f), m[1], err)
			}
		}
	}
}

// needsSession: lines that act on the one running session without naming it.
func needsSession(line string) bool {
	f := strings.Fields(line)
	return len(f) > 1 && slices.Contains([]string{"exec", "url", "connect", "notebook"}, f[1])
}

// checkSpan reports an unknown command or flag in a command line quoted in
// prose, which may be a template (COMMAND, [SESSION], a|b).
func checkSpan(app *cli.App, span string) string {
	words := strings.Fields(strings.NewReplacer("\\|", " ", "[", " ", "]", " ", "|", " ").Replace(span))[1:]
	var cmd *cli.Command
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--" || w == "...":
			return ""
		case looksLikeFlag(w):
			own := []cli.Flag{cli.HelpFlag}
			if cmd != nil {
				own = append(own, cmd.Flags...)
			}
			f := flagNamed(own, w)
			if f == nil {
				f = flagNamed(globalFlags(app), w)
			}
			if f == nil {
				return "no flag " + w
			}
			i = takeValue(f, words, i)
		case cmd == nil && w == strings.ToUpper(w):
			return "" // a template: sena COMMAND --help
		case cmd == nil:
			if cmd = app.Command(w); cmd == nil && w != "help" {
				return "no command " + w
			}
		case cmd.Command(w) != nil:
			cmd = cmd.Command(w)
		}
	}
	return ""
}
