package slurm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// Inspect reports the job's state as a sandbox's: queued with SLURM's
// reason, running, or stopped with why.
func (p *Provider) Inspect(ctx context.Context, req *core.InspectRequest) (*core.InspectResponse, error) {
	st, err := readHandle(req.Handle)
	if err != nil {
		return nil, err
	}
	j, err := jobByID(ctx, st.JobID)
	if err != nil {
		return nil, err
	}
	if j == nil { // the controller forgot it (MinJobAge): the directory tells
		if !isJobDir(st.Dir, req.Handle.ID) {
			return nil, core.Errorf(core.ErrNotFound, "slurm: job %s of sandbox %s is gone", st.JobID, req.Handle.ID)
		}
		why := ended(st.Dir)
		if why == "" {
			why = "the job ended; SLURM no longer reports why"
		}
		return &core.InspectResponse{Status: core.StatusStopped, Reason: why, Endpoint: st.endpoint()}, nil
	}
	s, why := status(j, st.Dir)
	if s == core.StatusRunning && st.LocalPort != 0 && !tunnelAlive(st.Dir) {
		// The tunnel process is this host's: gone after a reboot, say. The
		// job still runs, so bring the tunnel back on its port.
		target := net.JoinHostPort(st.Addr, strconv.Itoa(st.Port))
		if err := startTunnel(ctx, p.exe, st, target, st.LocalPort); err != nil {
			why = "its SSH tunnel is down: " + err.Error()
		}
	}
	return &core.InspectResponse{Status: s, Reason: why, Endpoint: st.endpoint()}, nil
}

// Destroy cancels the job, waits until SLURM has stopped it (so its
// Jupyter no longer answers), stops the tunnel and removes the job's
// directory. A job already gone is success.
func (p *Provider) Destroy(ctx context.Context, req *core.DestroyRequest) error {
	st, err := readHandle(req.Handle)
	if errors.Is(err, core.ErrNotFound) {
		return nil // a handle with no job: nothing was made
	} else if err != nil {
		return err // a newer provider's handle: that one must stop it
	}
	if err := scancel(ctx, st.JobID); err != nil {
		return err
	}
	stopTunnel(st.Dir)
	if err := waitInactive(ctx, st.JobID); err != nil {
		return err
	}
	return removeJobDir(st.Dir, req.Handle.ID)
}

// List finds the user's jobs that Sena started with all the labels asked
// for: those still queued or running, and those ended whose directory
// Destroy has not removed yet (shown stopped, with why).
func (p *Provider) List(ctx context.Context, req *core.ListRequest) (*core.ListResponse, error) {
	var args []string
	if s := req.Labels[core.LabelSession]; s != "" {
		args = append(args, "--name="+jobName(s))
	}
	resp := &core.ListResponse{}
	js, err := jobs(ctx, args...)
	if errors.Is(err, core.ErrUnavailable) {
		// No SLURM here, so no job to see from here: ls, down and gc run
		// where the cluster's commands do. (An up refused for that reason
		// then leaves no record behind either.)
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	for i := range js {
		j := &js[i]
		labels, ok := labelsOf(*j)
		if !ok || !hasLabels(labels, req.Labels) {
			continue
		}
		session := labels[core.LabelSession]
		dir := filepath.Dir(j.WorkDir)
		if !active(j.State) && !isJobDir(dir, session) {
			continue // destroyed: SLURM still remembers it for MinJobAge
		}
		s, why := status(j, dir)
		st := jobState{JobID: j.ID, Dir: dir}
		if node, port, ok := readEndpoint(dir); ok {
			st.Node, st.Addr, st.Port = node, node, port
		}
		resp.Sandboxes = append(resp.Sandboxes, core.SandboxInfo{
			Handle: newHandle(session, st), Labels: labels, Status: s, Reason: why,
		})
	}
	return resp, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// waitInactive waits until SLURM has stopped the job's processes.
func waitInactive(ctx context.Context, id string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j, err := jobByID(ctx, id)
		if err == nil && (j == nil || !active(j.State)) {
			return nil
		}
		if time.Now().After(deadline) {
			state := "unknown"
			if j != nil {
				state = j.State
			}
			return core.Errorf(core.ErrUnavailable, "slurm: job %s was cancelled but is still %s after 2 minutes (last error: %v); squeue -j %s shows it", id, state, err, id)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// isJobDir is true for a directory that Create made for session.
func isJobDir(dir, session string) bool {
	data, err := os.ReadFile(filepath.Join(dir, markerFile))
	return err == nil && strings.TrimSpace(string(data)) == session && filepath.Base(dir) == session
}

// removeJobDir removes a job's directory, and only a directory Create made
// (a handle or comment can name any path).
func removeJobDir(dir, session string) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	if !isJobDir(dir, session) {
		return core.Errorf(core.ErrInvalidConfig, "slurm: %s is not the job directory of sandbox %s (no %s file naming it); left as it is", dir, session, markerFile)
	}
	// Renamed first, so that a removal cut short (a plugin stopped with
	// its host) leaves no half directory that looks like a sandbox, only a
	// tombstone the next removal sweeps.
	tomb := filepath.Join(filepath.Dir(dir), "."+session+".removing")
	if err := os.Rename(dir, tomb); err != nil {
		return fmt.Errorf("slurm: remove the job directory: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".*.removing"))
	for _, t := range old {
		if err := os.RemoveAll(t); err != nil && t == tomb {
			return fmt.Errorf("slurm: remove the job directory: %w", err)
		}
	}
	return nil
}
