package slurm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// jupyterStart bounds the wait for Jupyter once the job runs: an
// interpreter imported from a cold shared filesystem can be slow.
const jupyterStart = 10 * time.Minute

// Create asks the cluster whether it has what the spec needs, submits the
// job, waits while it is queued (saying why, as SLURM does), and returns
// once Jupyter listens on the node and this host reaches it. On any
// failure, or when ctx is cancelled, the job is cancelled and its
// directory removed.
func (p *Provider) Create(ctx context.Context, req *core.CreateRequest) (*core.CreateResponse, error) {
	if err := capabilities.CheckSpec(Name, &req.Spec); err != nil {
		return nil, err
	}
	o, err := decodeOptions(req.Spec.Options)
	if err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		if req.Progress != nil {
			req.Progress(core.Note(format, args...))
		}
	}

	// Ask the cluster before anything is submitted.
	all, err := nodes(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := partitionNodes(all, o.Partition)
	if err != nil {
		return nil, err
	}
	g, err := gres(req.Spec.GPU, o.GPUType, ns, o.Partition)
	if err != nil {
		return nil, err
	}
	var login *loginHost
	if o.LoginHost != "" {
		if login, err = parseLoginHost(o.LoginHost, o.KnownHosts); err != nil {
			return nil, err
		}
		say("checking the SSH login host %s", login.addr)
		if err := login.check(ctx); err != nil {
			return nil, err
		}
	}

	env := maps.Clone(req.Spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	if err := fetchModels(ctx, req.Spec.Models, o.CacheDir, env, say); err != nil {
		return nil, err
	}

	dir := filepath.Join(o.SharedDir, "jobs", req.SessionID)
	if err := writeJobDir(dir, req, o, env); err != nil {
		_ = removeJobDir(dir, req.SessionID)
		return nil, err
	}
	st := jobState{Dir: dir}
	if login != nil {
		st.Login, st.KnownHosts = login.spec(), o.KnownHosts
	}
	if st.JobID, err = submit(sbatchArgs(o, &req.Spec, req.SessionID, dir, g, req.Labels), filepath.Join(dir, scriptFile)); err != nil {
		_ = removeJobDir(dir, req.SessionID)
		return nil, err
	}
	say("submitted job %s%s", st.JobID, where(o.Partition, g))
	if err := p.waitStarted(ctx, &st, all, o, say); err != nil {
		p.teardown(&st)
		return nil, err
	}
	return &core.CreateResponse{Handle: newHandle(req.SessionID, st), Endpoint: st.endpoint()}, nil
}

func where(partition, gres string) string {
	var parts []string
	if partition != "" {
		parts = append(parts, "partition "+partition)
	}
	if gres != "" {
		parts = append(parts, "--gres="+gres)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// writeJobDir makes the job's directory, private to the user, with what
// the job reads: the token, the environment, the files, the script.
func writeJobDir(dir string, req *core.CreateRequest, o *options, env map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return core.Errorf(core.ErrInvalidConfig, "slurm: make the job directory under shared_dir %s: %v", o.SharedDir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return core.Errorf(core.ErrInvalidConfig, "slurm: make the job directory %s: %v", dir, err)
	}
	// The marker first: it is what lets a failed Create remove the rest.
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte(req.SessionID+"\n"), 0o600); err != nil {
		return fmt.Errorf("slurm: write %s: %w", markerFile, err)
	}
	files := map[string][]byte{
		tokenFile:  []byte(req.JupyterToken),
		envFile:    envData(env),
		scriptFile: []byte(script(o, &req.Spec, dir)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("slurm: write %s: %w", name, err)
		}
	}
	work := filepath.Join(dir, workDir)
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}
	for name, data := range req.Spec.Files {
		path := filepath.Join(work, name)
		if !filepath.IsLocal(name) {
			return core.Errorf(core.ErrInvalidConfig, "slurm: file %q is not a relative path inside the sandbox", name)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// submit runs sbatch and returns the job id. sbatch is never cut short (it
// could leave a job whose id nobody heard); its refusals are the user's to
// fix (an account, a QOS, a constraint the cluster refuses).
func submit(args []string, scriptPath string) (string, error) {
	ctx, cancel := bounded()
	defer cancel()
	out, err := run(ctx, "sbatch", append(args, scriptPath)...)
	var ce *commandError
	if errors.As(err, &ce) {
		return "", core.Errorf(core.ErrInvalidConfig, "slurm: sbatch refused the job: %s", strings.TrimPrefix(ce.msg, "sbatch: error: "))
	}
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // --parsable: ID[;CLUSTER]
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("slurm: sbatch printed %q, not a job id", strings.TrimSpace(out))
	}
	return id, nil
}

// waitStarted follows the job until Jupyter listens on its node, saying
// each time the job's state or SLURM's reason changes, then checks that
// this host reaches it (directly, or through the login host's tunnel).
func (p *Provider) waitStarted(ctx context.Context, st *jobState, all []node, o *options, say func(string, ...any)) error {
	var last string
	var runningSince time.Time
	failures := 0
	interval, nextQueue := p.poll, time.Time{}
	for {
		if node, port, ok := readEndpoint(st.Dir); ok {
			st.Node, st.Port, st.Addr = node, port, nodeAddr(o.NodeAddr, node, all)
			if runningSince.IsZero() {
				say("job %s running on %s", st.JobID, node)
			}
			break
		}
		if time.Now().After(nextQueue) {
			j, err := jobByID(ctx, st.JobID)
			var ce *commandError
			if errors.As(err, &ce) && failures < 5 {
				// A busy controller times out now and then; a queue wait
				// of hours must not end on one failed squeue.
				failures++
				say("squeue failed (%v); asking again", err)
				nextQueue = time.Now().Add(p.maxPoll)
				continue
			}
			if err != nil {
				return err
			}
			failures = 0
			if j == nil {
				return core.Errorf(core.ErrUnavailable, "slurm: job %s is gone from the queue before Jupyter started%s", st.JobID, logTails(st.Dir))
			}
			s, why := status(j, st.Dir)
			msg := fmt.Sprintf("job %s %s", st.JobID, s)
			switch s {
			case core.StatusQueued:
				msg += ": " + why
			case core.StatusRunning:
				msg = fmt.Sprintf("job %s running on %s; starting Jupyter", st.JobID, j.Nodes)
				if runningSince.IsZero() {
					runningSince = time.Now()
				}
			default:
				return core.Errorf(core.ErrUnavailable, "slurm: job %s ended before Jupyter started: %s%s", st.JobID, why, logTails(st.Dir))
			}
			if msg != last {
				say("%s", msg)
				last = msg
			}
			if s == core.StatusRunning {
				interval = p.poll // the endpoint file is a local look; squeue is not
			}
			nextQueue = time.Now().Add(interval)
			interval = min(interval*3/2, p.maxPoll)
		}
		if !runningSince.IsZero() && time.Since(runningSince) > jupyterStart {
			return core.Errorf(core.ErrUnavailable, "slurm: job %s runs but Jupyter did not start within %s%s", st.JobID, jupyterStart, logTails(st.Dir))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // the endpoint file: a local look
		}
	}
	target := net.JoinHostPort(st.Addr, strconv.Itoa(st.Port))
	if st.Login == "" {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", target)
		if err != nil {
			return core.Errorf(core.ErrUnavailable, "slurm: Jupyter runs on node %s, port %d, but this host cannot reach %s (%v): "+
				"name an SSH login host that can (--provider-option login_host=USER@HOST), or say how nodes are reached "+
				"(node_address, as {node}.cluster.example.org); the job was cancelled", st.Node, st.Port, target, unwrapDial(err))
		}
		_ = c.Close()
		say("Jupyter listens on %s", target)
		return nil
	}
	say("Jupyter listens on %s; tunnelling to it through %s", target, st.Login)
	return startTunnel(ctx, p.exe, st, target, 0)
}

// readEndpoint reads the node and port the job wrote once Jupyter listened.
func readEndpoint(dir string) (string, int, bool) {
	data, err := os.ReadFile(filepath.Join(dir, endpointFile))
	if err != nil {
		return "", 0, false
	}
	node, p, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	port, err := strconv.Atoi(p)
	if !ok || err != nil || node == "" {
		return "", 0, false
	}
	return node, port, true
}

func unwrapDial(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// logTails are the last lines of the job's logs, for an error that says why.
func logTails(dir string) string {
	var b strings.Builder
	for _, name := range []string{logFile, jupyterLog} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		lines = lines[max(0, len(lines)-8):]
		fmt.Fprintf(&b, "\n%s:\n  %s", filepath.Join(dir, name), strings.Join(lines, "\n  "))
	}
	return b.String()
}

// teardown undoes a Create that failed: the job cancelled, its tunnel
// stopped, its directory removed. It runs on a fresh context: the caller's
// may be the cancelled one.
func (p *Provider) teardown(st *jobState) {
	ctx, cancel := bounded()
	defer cancel()
	if err := scancel(ctx, st.JobID); err != nil {
		p.log.Warn("cancel the job of a failed create", "job", st.JobID, "err", err)
	}
	stopTunnel(st.Dir)
	waitInactive(ctx, st.JobID)
	_ = removeJobDir(st.Dir, filepath.Base(st.Dir))
}
