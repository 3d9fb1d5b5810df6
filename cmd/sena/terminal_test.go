package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/creack/pty"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/internal/wheeltest"
)

// These tests run sena on a real pseudo-terminal, as in a user's shell,
// and with its output piped, as in a log or an agent's tool call.

const ptyWidth = 80

// onTerminal runs sena with stdout and stderr on a new pseudo-terminal
// ptyWidth columns wide and returns what the terminal received, with the
// terminal's own \r\n line ends turned back into \n.
func onTerminal(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(senaBin, args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: ptyWidth})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, f) // ends with EIO when the child has gone
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	f.Close()
	code := 0
	if err := cmd.Wait(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), code
}

// piped runs sena with stdout and stderr on pipes.
func piped(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(senaBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// frames splits terminal output into what each \r redraw showed, colour
// codes removed (lines written once, such as results, are not frames).
func frames(out string) []string {
	var fs []string
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Split(line, "\r")[1:] {
			if f = strings.TrimRight(stripSGR(f), " "); f != "" {
				fs = append(fs, f)
			}
		}
	}
	return fs
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func stripSGR(s string) string { return sgr.ReplaceAllString(s, "") }

var percent = regexp.MustCompile(`\] +(\d+)% `)

// TestDownloadProgress: a model download on a terminal is one line redrawn
// in place, with a bar, percent, bytes, rate and ETA, never wider than the
// terminal, coloured unless NO_COLOR or --no-color; piped, it is a few
// plain lines with no escape codes; a cached model says "cached" once.
func TestDownloadProgress(t *testing.T) {
	hubSrv := hubtest.NewServer(t)
	weights := make([]byte, 3_000_000)
	rand.Read(weights)
	hubSrv.AddRepo("sena-test/slow", "main", map[string][]byte{"config.json": []byte(`{"model_type": "llama"}`), "model.safetensors": weights})
	hubSrv.SetRate(1_500_000) // two seconds
	state := t.TempDir()
	env := func(cache string, more ...string) []string {
		return append([]string{"HF_ENDPOINT=" + hubSrv.URL, "HF_HUB_CACHE=" + cache, "HF_TOKEN=", "SENA_STATE_DIR=" + state, "NO_COLOR=", "TERM=xterm"}, more...)
	}

	cache := t.TempDir()
	out, code := onTerminal(t, env(cache), "pull", "sena-test/slow")
	if code != 0 {
		t.Fatalf("pull on a terminal: exit %d\n%q", code, out)
	}
	var pcts []int
	for _, f := range frames(out) {
		if n := utf8.RuneCountInString(f); n > ptyWidth {
			t.Errorf("a frame %d columns wide on a %d-column terminal would wrap: %q", n, ptyWidth, f)
		}
		if m := percent.FindStringSubmatch(f); m != nil && strings.HasPrefix(f, "model sena-test/slow [") {
			p, _ := strconv.Atoi(m[1])
			pcts = append(pcts, p)
		}
	}
	mid := 0
	for i, p := range pcts {
		if i > 0 && p < pcts[i-1] {
			t.Errorf("percent went back: %v", pcts)
		}
		if p > 0 && p < 100 {
			mid++
		}
	}
	if mid < 3 || strings.Count(out, "\r") < 4 {
		t.Errorf("want the line redrawn with \\r as the bytes come (%d redraws, percents %v):\n%q", strings.Count(out, "\r"), pcts, out)
	}
	for _, want := range []string{"MB/s", "ETA 0:0", "/ 3.0 MB", "model sena-test/slow: downloaded 3.0 MB (3.0 MB in 0:0", "\x1b[36m#"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if strings.Count(out, "\n") != 2 { // the finished step's line and pull's result
		t.Errorf("want one progress line and the result, got %d lines:\n%q", strings.Count(out, "\n"), out)
	}

	// No colour with NO_COLOR or --no-color: no escape code at all, the
	// line still redrawn.
	hubSrv.SetRate(6_000_000)
	for _, v := range [][]string{{"NO_COLOR=1"}, {}} {
		args := []string{"pull", "sena-test/slow"}
		if len(v) == 0 {
			args = append(args, "--no-color")
		}
		out, _ := onTerminal(t, env(t.TempDir(), v...), args...)
		if strings.Contains(out, "\x1b") || strings.Count(out, "\r") < 2 {
			t.Errorf("%v %v: escape codes or no redraws:\n%q", v, args, out)
		}
	}

	// Piped: plain lines at a bounded rate.
	hubSrv.SetRate(1_500_000)
	_, stderr, code := piped(t, env(t.TempDir()), "pull", "sena-test/slow")
	if code != 0 || strings.ContainsAny(stderr, "\r\x1b") {
		t.Fatalf("piped pull: exit %d, escape codes or carriage returns in %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) < 2 || len(lines) > 3 || !strings.HasPrefix(lines[0], "sena: model sena-test/slow:") ||
		!strings.HasPrefix(lines[len(lines)-1], "sena: model sena-test/slow: downloaded 3.0 MB") {
		t.Errorf("piped progress %q: want a line when it starts, at most one more in two seconds, one when done", lines)
	}

	// Cached: one line, on a terminal and piped alike.
	_, stderr, _ = piped(t, env(cache), "pull", "sena-test/slow")
	if stderr != "sena: model sena-test/slow: cached (3.0 MB)\n" {
		t.Errorf("cached pull, piped: %q", stderr)
	}
	out, _ = onTerminal(t, env(cache, "NO_COLOR=1"), "pull", "sena-test/slow")
	if strings.Count(out, "cached") != 1 || strings.Count(out, "\n") != 2 {
		t.Errorf("cached pull on a terminal: %q", out)
	}
	// And --json keeps plain lines even on a terminal.
	hubSrv.SetRate(6_000_000)
	out, _ = onTerminal(t, env(t.TempDir()), "--json", "pull", "sena-test/slow")
	if strings.ContainsAny(strings.TrimRight(out, "\n"), "\r\x1b") {
		t.Errorf("--json on a terminal: %q", out)
	}
}

// TestBuildProgress: building a Python environment (pip on a local wheel)
// shows pip's progress, summarised, on a line that keeps moving on a
// terminal.
func TestBuildProgress(t *testing.T) {
	var py string
	for _, in := range jupytertest.Interpreters(t) {
		if exec.Command(in.Path, "-c", "import venv, ensurepip").Run() == nil {
			py = in.Path
			break
		}
	}
	if py == "" {
		t.Skip("no Python here makes venvs with pip")
	}
	wheels := t.TempDir()
	writeWheel(t, wheels, "senatiny", "VALUE = 42\n")
	state := t.TempDir()
	env := func() []string {
		return []string{"PIP_FIND_LINKS=" + wheels, "PIP_NO_INDEX=1", "SENA_CACHE_DIR=" + t.TempDir(), "SENA_STATE_DIR=" + state, "TERM=xterm", "NO_COLOR="}
	}
	up := []string{"up", "--python", py, "--package", "senatiny"}
	defer piped(t, []string{"SENA_STATE_DIR=" + state}, "down", "--all")

	out, code := onTerminal(t, env(), up...)
	if code != 0 {
		t.Fatalf("up on a terminal: exit %d\n%s", code, out)
	}
	var live []string
	for _, f := range frames(out) {
		if strings.HasPrefix(f, "python environment ") {
			live = append(live, f)
		}
		if n := utf8.RuneCountInString(f); n > ptyWidth {
			t.Errorf("frame %d columns wide: %q", n, f)
		}
	}
	if len(live) < 2 || !strings.Contains(out, "senatiny") || !strings.Contains(out, "python environment: ready in ") {
		t.Errorf("want the environment's line redrawn with pip's progress (senatiny) and finished:\n%q", out)
	}

	// Piped, the same reports are plain lines: TestPlainProgress.
}

// TestTracebackColours: a traceback on a terminal keeps IPython's colours
// unless NO_COLOR or --no-color; piped, it has none.
func TestTracebackColours(t *testing.T) {
	c := newCLI(t)
	u := c.up("--python", jupytertest.Interpreters(t)[0].Path)
	env := []string{"SENA_STATE_DIR=" + c.state, "TERM=xterm", "NO_COLOR="}
	out, code := onTerminal(t, env, "exec", u.SessionID, "1/0")
	if code != 1 || !strings.Contains(out, "\x1b[") || !strings.Contains(stripANSI(out), "ZeroDivisionError") {
		t.Errorf("on a terminal: exit %d, want a coloured traceback: %q", code, out)
	}
	for _, extra := range [][]string{{"NO_COLOR=1"}, nil} {
		args := []string{"exec", u.SessionID, "1/0"}
		if extra == nil {
			args = append(args, "--no-color")
		}
		out, _ := onTerminal(t, append(env, extra...), args...)
		if strings.Contains(out, "\x1b") || !strings.Contains(out, "ZeroDivisionError") {
			t.Errorf("%v %v: %q, want a traceback without escape codes", extra, args, out)
		}
	}
	if _, stderr, _ := piped(t, env, "exec", u.SessionID, "1/0"); strings.Contains(stderr, "\x1b") || !strings.Contains(stderr, "ZeroDivisionError") {
		t.Errorf("piped: %q", stderr)
	}
}

var anyEscape = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]`)

func stripANSI(s string) string { return anyEscape.ReplaceAllString(s, "") }

// writeWheel writes a real wheel of package name (module source init) into dir.
func writeWheel(t *testing.T, dir, name, init string) {
	t.Helper()
	w := wheeltest.Wheel{Name: name, Version: "1.0", Module: init}
	data, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, w.Filename()), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
