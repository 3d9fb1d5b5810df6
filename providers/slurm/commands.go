package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// run runs one of SLURM's commands and returns its standard output. A
// command missing from PATH is core.ErrUnavailable: `sena ls` then skips
// this provider quietly on a host without SLURM, and up says what to do.
func run(ctx context.Context, name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", core.Errorf(core.ErrUnavailable,
			"slurm: %s is not on PATH: run sena on a host where SLURM's commands work (a login node), "+
				"or put them on PATH; a cluster whose slurm.conf is not in the default place needs SLURM_CONF "+
				"passed to the plugin (SENA_PLUGIN_ENV=SLURM_CONF)", name)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), &commandError{name: name, msg: msg}
	}
	return stdout.String(), nil
}

// commandError is a SLURM command that ran and failed; msg is its stderr.
type commandError struct{ name, msg string }

func (e *commandError) Error() string { return e.name + ": " + e.msg }

// isInvalidJob reports squeue's answer for a job the controller no longer
// knows (ended longer ago than MinJobAge).
func isInvalidJob(err error) bool {
	var ce *commandError
	return errors.As(err, &ce) && strings.Contains(ce.msg, "Invalid job id")
}

// bounded is a context for a command that must run to its end even when the
// caller gives up: sbatch killed half-way could leave a job whose id nobody
// heard, so it is never cancelled, only bounded.
func bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// job is one line of squeue.
type job struct {
	ID, Name, State, Reason, Nodes, WorkDir, Comment string
}

// squeueFormat prints the fields of job, separated by the unit separator,
// which no name, path or comment holds; the comment is last, so it may.
const squeueFormat = "%i\x1f%j\x1f%T\x1f%r\x1f%N\x1f%Z\x1f%k"

// jobs lists the user's jobs, finished ones the controller still holds
// included, narrowed by args (-j ID, --name NAME).
func jobs(ctx context.Context, args ...string) ([]job, error) {
	out, err := run(ctx, "squeue", append([]string{"--me", "--states=all", "--noheader", "--format=" + squeueFormat}, args...)...)
	if isInvalidJob(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseJobs(out), nil
}

func parseJobs(out string) []job {
	var js []job
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(strings.TrimRight(line, "\r"), "\x1f", 7)
		if len(f) != 7 {
			continue
		}
		js = append(js, job{ID: f[0], Name: f[1], State: f[2], Reason: f[3], Nodes: f[4], WorkDir: f[5], Comment: f[6]})
	}
	return js
}

// jobByID is the job with id, nil when the controller does not know it.
func jobByID(ctx context.Context, id string) (*job, error) {
	js, err := jobs(ctx, "--jobs="+id)
	if err != nil {
		return nil, err
	}
	for i := range js {
		if js[i].ID == id {
			return &js[i], nil
		}
	}
	return nil, nil
}

// scancel cancels a job; one already ended or unknown is success.
func scancel(ctx context.Context, id string) error {
	_, err := run(ctx, "scancel", id)
	if err != nil && !isInvalidJob(err) && !strings.Contains(err.Error(), "already completing or completed") {
		return fmt.Errorf("slurm: cancel job %s: %w", id, err)
	}
	return nil
}
