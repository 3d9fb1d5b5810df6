package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompletion loads `sena completion SHELL` into real bash, zsh and
// fish and completes command lines: commands, subcommands, flags, flag
// values and the state dir's session ids.
func TestCompletion(t *testing.T) {
	state := t.TempDir()
	bin := t.TempDir() // `sena` on PATH, as installed
	if err := os.Symlink(senaBin, filepath.Join(bin, "sena")); err != nil {
		t.Fatal(err)
	}
	// A recorded session: completion reads records only, never a backend.
	const id = "sabc123456789"
	os.MkdirAll(filepath.Join(state, "sessions"), 0o700)
	rec := `{"version": 2, "id": "` + id + `", "provider": "local", "mode": "notebook", "state": "ready", "handle": {"id": "` + id + `"},
		"endpoint": {"url": "http://127.0.0.1:1/"}, "notebook": "` + id + `.ipynb", "config": {}, "created_at": "` + time.Now().UTC().Format(time.RFC3339) + `"}`
	if err := os.WriteFile(filepath.Join(state, "sessions", id+".json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SENA_STATE_DIR="+state)
	script := func(shell string) string {
		f := filepath.Join(t.TempDir(), "sena."+shell)
		cmd := exec.Command(senaBin, "completion", shell)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sena completion %s: %v", shell, err)
		}
		os.WriteFile(f, out, 0o644)
		return f
	}
	cases := []struct {
		line string // what was typed; the completion is of its last word
		want []string
	}{
		{"sena ex", []string{"exec"}},
		{"sena ", []string{"up", "exec", "ls", "down", "notebook", "completion", "help"}},
		{"sena exec ", []string{id}},
		{"sena down sab", []string{id}},
		{"sena exec " + id + " --ti", []string{"--timeout"}},
		{"sena up --g", []string{"--gpu"}},
		{"sena up --gpu ", []string{"A100", "H100", "T4"}},
		{"sena --provider ", []string{"local", "docker", "modal"}},
		{"sena up --skill ", []string{"steering"}},
		{"sena mcp ", []string{"config"}},
		{"sena completion ", []string{"bash", "zsh", "fish"}},
		{"sena ls --", []string{"--wide", "--json", "--state-dir"}},
	}
	shells := map[string]func(f, line string) []string{
		"bash": func(f, line string) []string {
			words := strings.Fields(line)
			if strings.HasSuffix(line, " ") {
				words = append(words, "")
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			code := "source " + f + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
				"\n_sena\nprintf '%s\\n' \"${COMPREPLY[@]}\""
			return runShell(t, env, "bash", "--norc", "-c", code)
		},
		"zsh": func(f, line string) []string {
			words := strings.Fields(line)
			if strings.HasSuffix(line, " ") {
				words = append(words, "")
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = "'" + w + "'"
			}
			// compdef and the completion system's output functions,
			// standing in for a terminal: they print what would be offered.
			code := "compdef() { :; }\n_describe() { local arr=${@[-1]}; print -l -- ${${(P)arr}%%:*} }\n_files() { print -- FILES }\n" +
				"source " + f + "\nwords=(" + strings.Join(quoted, " ") + ")\nCURRENT=" + strconv.Itoa(len(words)) + "\n_sena"
			return runShell(t, env, "zsh", "-f", "-c", code)
		},
		"fish": func(f, line string) []string {
			out := runShell(t, env, "fish", "--no-config", "-c", "source "+f+"; complete -C '"+line+"'")
			for i, l := range out {
				out[i], _, _ = strings.Cut(l, "\t")
			}
			return out
		},
	}
	for shell, complete := range shells {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not installed (scripts/setup-test-env installs it)", shell)
				}
				t.Skipf("%s is not installed", shell)
			}
			f := script(shell)
			for _, tc := range cases {
				got := complete(f, tc.line)
				for _, w := range tc.want {
					if !slices.Contains(got, w) {
						t.Errorf("%s: %q completes to %q, want %q among them", shell, tc.line, got, w)
					}
				}
				for _, g := range got {
					last := tc.line[strings.LastIndex(tc.line, " ")+1:]
					if !strings.HasPrefix(g, last) && g != "FILES" {
						t.Errorf("%s: %q offers %q, which does not start with %q", shell, tc.line, g, last)
					}
				}
			}
			if got := complete(f, "sena pull "); len(got) != 0 && !slices.Equal(got, []string{"FILES"}) && shell != "fish" {
				t.Errorf("%s: sena pull offers %q; want nothing of sena's (the shell's own files)", shell, got)
			}
		})
	}
}

func runShell(t *testing.T, env []string, name string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
