package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// senaCLI runs the real sena binary, built once, against a state dir of the
// harness's own, so `down --all` at the end touches only what it started.
type senaCLI struct {
	bin, stateDir, python string
}

// buildSena compiles ./cmd/sena into dir.
func buildSena(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "sena")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sena")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sena (run the harness from the repo root): %v\n%s", err, out)
	}
	return bin, nil
}

// upPhases are the moments `sena up` reached, from its stderr progress lines,
// measured from the process start.
type upPhases struct {
	creating, starting, waiting, done time.Duration
	id                                string
}

// progressMarks are the progress lines (after "sena: ") that end each phase.
var progressMarks = []string{"creating ", "starting jupyter_server", "waiting for Jupyter"}

// up runs `sena --json up --python PY`, tagged with tag, and times its phases.
func (s *senaCLI) up(ctx context.Context, tag string) (*upPhases, error) {
	cmd := s.command(ctx, tag, "--json", "up", "--python", s.python)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ph := &upPhases{}
	marks := []*time.Duration{&ph.creating, &ph.starting, &ph.waiting}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		at := time.Since(t0)
		line := sc.Text()
		log.WriteString(line + "\n")
		for i, m := range progressMarks {
			if strings.HasPrefix(line, "sena: "+m) && *marks[i] == 0 {
				*marks[i] = at
			}
		}
	}
	err = cmd.Wait()
	ph.done = time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("sena up: %v\n%s", err, log.String())
	}
	var out struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.SessionID == "" {
		return nil, fmt.Errorf("sena up printed no session id: %s", stdout.String())
	}
	ph.id = out.SessionID
	return ph, nil
}

// exec runs `sena exec ID CODE` and checks that it printed want.
func (s *senaCLI) exec(ctx context.Context, id, code, want string) error {
	out, err := s.command(ctx, "", "exec", id, code).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != want {
		return fmt.Errorf("sena exec %s %q: %v: %s", id, code, err, out)
	}
	return nil
}

// down stops sessions. It runs with a context of its own so that cleanup
// after Ctrl-C still works.
func (s *senaCLI) down(ids ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"down"}, ids...)
	if len(ids) == 0 {
		args = append(args, "--all")
	}
	if out, err := s.command(ctx, "", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("sena down: %v: %s", err, out)
	}
	return nil
}

// command is sena with the harness's state dir; tag, when set, marks it
// and what it starts.
func (s *senaCLI) command(ctx context.Context, tag string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--state-dir", s.stateDir}, args...)...)
	cmd.Env = os.Environ()
	// Ctrl-C, not SIGKILL: sena up then tears down what it had started.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	if tag != "" {
		cmd.Env = append(cmd.Env, tagVar+"="+tag)
	}
	return cmd
}
