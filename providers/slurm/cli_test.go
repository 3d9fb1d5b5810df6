package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
)

// These tests drive the real sena binary with sena-provider-slurm in a
// plugin directory, as a researcher on a login node would.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds sena and the plugin once per test run: sena in binDir,
// the plugin in binDir/plugins.
func binaries(t *testing.T) (sena, pluginDir string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "sena-slurm-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range [][2]string{
			{filepath.Join(binDir, "sena"), "../../cmd/sena"},
			{filepath.Join(binDir, "plugins", "sena-provider-slurm"), "./cmd/sena-provider-slurm"},
		} {
			if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
				buildErr = &buildFailure{b[1], string(out), err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "sena"), filepath.Join(binDir, "plugins")
}

type buildFailure struct {
	pkg, out string
	err      error
}

func (b *buildFailure) Error() string { return "build " + b.pkg + ": " + b.err.Error() + "\n" + b.out }

// senaCLI runs sena with a state dir and the slurm plugin of its own.
type senaCLI struct {
	t      *testing.T
	bin    string
	state  string
	env    []string
	shared string
	py     string
}

func newCLI(t *testing.T) *senaCLI {
	needCluster(t)
	bin, plugins := binaries(t)
	c := &senaCLI{t: t, bin: bin, state: t.TempDir(), shared: sharedDir(t), py: python(t)}
	c.env = []string{"SENA_PLUGIN_DIR=" + plugins}
	t.Cleanup(func() {
		if t.Failed() { // the jobs' own words, before down removes them
			logs, _ := filepath.Glob(filepath.Join(c.shared, "jobs", "*", "*.log"))
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, data)
			}
		}
		c.run("--provider", "slurm", "down", "--all")
		c.assertNoJobs()
	})
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *senaCLI) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, append([]string{"--state-dir", c.state}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	// A test that fails while an up waits must not leave it waiting on.
	c.t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	})
	return cmd
}

func (c *senaCLI) run(args ...string) result {
	c.t.Helper()
	cmd := c.command(args...)
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

func (c *senaCLI) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("sena %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// upArgs are `sena --provider slurm --json up` with the test cluster's options.
func (c *senaCLI) upArgs(extra ...string) []string {
	return append([]string{"--provider", "slurm", "--json", "up",
		"--provider-option", "python=" + c.py, "--provider-option", "shared_dir=" + c.shared}, extra...)
}

type upOut struct {
	SessionID  string `json:"session_id"`
	JupyterURL string `json:"jupyter_url"`
}

func (c *senaCLI) up(extra ...string) upOut {
	c.t.Helper()
	r := c.ok(c.upArgs(extra...)...)
	var u upOut
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.SessionID == "" {
		c.t.Fatalf("up --json printed %q: %v", r.stdout, err)
	}
	return u
}

type lsRow struct {
	ID     string `json:"session_id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (c *senaCLI) ls() []lsRow {
	c.t.Helper()
	var rows []lsRow
	r := c.ok("--provider", "slurm", "--json", "ls")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		c.t.Fatalf("ls --json printed %q: %v", r.stdout, err)
	}
	return rows
}

func (c *senaCLI) row(id string) lsRow {
	c.t.Helper()
	for _, r := range c.ls() {
		if r.ID == id {
			return r
		}
	}
	c.t.Fatalf("sena ls does not show session %s", id)
	return lsRow{}
}

// waitRow polls sena ls until the session's row satisfies ok.
func (c *senaCLI) waitRow(id string, d time.Duration, ok func(lsRow) bool) lsRow {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := c.row(id)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("session %s: ls shows %+v after %s", id, r, d)
		}
		time.Sleep(time.Second)
	}
}

// sessionJob is the SLURM job of a session, found by its name.
func sessionJob(t *testing.T, session string) *job {
	t.Helper()
	js, err := jobs(context.Background(), "--name="+jobName(session))
	if err != nil {
		t.Fatal(err)
	}
	for i := range js {
		if active(js[i].State) {
			return &js[i]
		}
	}
	if len(js) > 0 {
		return &js[len(js)-1]
	}
	t.Fatalf("no job named %s", jobName(session))
	return nil
}

// assertNoJobs checks that no job of this state dir still holds resources
// and no job directory is left.
func (c *senaCLI) assertNoJobs() {
	c.t.Helper()
	js, err := jobs(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	for _, j := range js {
		if labels, ok := labelsOf(j); ok && active(j.State) && strings.HasPrefix(filepath.Dir(j.WorkDir), c.shared) {
			c.t.Errorf("job %s (%s, session %s) is still %s", j.ID, j.Name, labels[core.LabelSession], j.State)
		}
	}
	// Not the tombstones of a removal cut short: the next removal sweeps them.
	if left, _ := filepath.Glob(filepath.Join(c.shared, "jobs", "[^.]*")); len(left) > 0 {
		c.t.Errorf("job directories left: %v", left)
	}
}

// `sena up --gpu A100:2 --model ... --timeout 4h`, exec and down through the
// real binary: the job asks SLURM for the GPU, the time and the memory,
// the kernel sees CUDA_VISIBLE_DEVICES as SLURM set it and the model in the
// shared cache, and the job's name and comment carry Sena's labels.
func TestUpExecDown(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	c.env = append(c.env, "HF_ENDPOINT="+hubSrv.URL)
	u := c.up("--gpu", "A100:2", "--model", "sena-test/tiny-llama", "--timeout", "4h", "--memory", "300", "--cpus", "1",
		"--provider-option", "pass_env=HF_ENDPOINT", "--provider-option", standinCUDA(t),
		"--provider-option", "node_address={node}") // by its name, which Jupyter's Host check must let in
	node, _ := os.Hostname()
	if short, _, _ := strings.Cut(node, "."); !strings.HasPrefix(u.JupyterURL, "http://"+short+":") {
		t.Errorf("Jupyter URL %s: want the node's name, %s", u.JupyterURL, short)
	}

	j := sessionJob(t, u.SessionID)
	if j.State != "RUNNING" || j.Name != "sena-"+u.SessionID {
		t.Errorf("job %+v, want RUNNING and named sena-%s", j, u.SessionID)
	}
	labels, ok := labelsOf(*j)
	if !ok || labels[core.LabelSession] != u.SessionID || labels[core.LabelManaged] != "true" || labels[core.LabelStateDir] == "" {
		t.Errorf("the job's comment %q does not carry Sena's labels", j.Comment)
	}
	out, err := exec.Command("squeue", "--jobs="+j.ID, "--noheader", "--format=%l %b %m").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "4:00:00 gres:gpu:a100:2 300M" {
		t.Errorf("the job asked SLURM for %q (%v), want time 4:00:00, gres:gpu:a100:2, 300M", out, err)
	}

	code := `import os
p = os.environ["MODEL_SENA_TEST_TINY_LLAMA_PATH"]
print(os.environ.get("CUDA_VISIBLE_DEVICES") == os.environ.get("SLURM_JOB_GPUS") != None, os.environ.get("SLURM_JOB_ID"), os.path.isfile(os.path.join(p, "config.json")), p.startswith(os.environ["HF_HOME"]))
cg = [l.split(":", 2)[2] for l in open("/proc/self/cgroup").read().splitlines() if l.split(":")[1] == "memory"][0]
while cg and not os.path.exists("/sys/fs/cgroup/memory" + cg + "/memory.limit_in_bytes"): cg = os.path.dirname(cg)
lims = []
while cg not in ("", "/"):
    lims.append(int(open("/sys/fs/cgroup/memory" + cg + "/memory.limit_in_bytes").read())); cg = os.path.dirname(cg)
print(min(lims) // (1 << 20), len(os.sched_getaffinity(0)))`
	got := strings.Fields(c.ok("exec", u.SessionID, code).stdout)
	want := []string{"True", j.ID, "True", "True", "300", "1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("in the kernel: CUDA_VISIBLE_DEVICES is SLURM's GPU, SLURM_JOB_ID, model, cache, memory MiB, CPUs = %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(c.shared, "huggingface", "hub", "models--sena-test--tiny-llama")); err != nil {
		t.Errorf("the model is not in the shared cache: %v", err)
	}
	if r := c.row(u.SessionID); r.Status != "running" {
		t.Errorf("ls: %+v, want running", r)
	}

	c.ok("down", u.SessionID)
	if j := sessionJob(t, u.SessionID); active(j.State) {
		t.Errorf("after down the job is %s", j.State)
	}
	if len(c.ls()) != 0 {
		t.Errorf("sessions left after down: %v", c.ls())
	}
}

// The only node's GPUs are busy: up waits with the job queued, `sena ls`
// from another shell shows it queued with SLURM's reason, and once the
// GPUs are free the same up finishes and the session runs.
func TestQueuedThenRunning(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	blocker := blockGPUs(t, "h100")
	cmd := c.command(c.upArgs("--gpu", "H100:1", "--provider-option", standinCUDA(t))...)
	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stderr, "queued: Resources", 60*time.Second)
	var id string
	for _, r := range c.ls() {
		id = r.ID
		// Resources, or Priority once other tests' jobs queue before it.
		if r.Status != "queued" || !strings.HasPrefix(r.Reason, "Resources") && !strings.HasPrefix(r.Reason, "Priority") {
			t.Errorf("ls while the node is busy: %+v, want queued (Resources... or Priority...)", r)
		}
	}
	if id == "" {
		t.Fatal("ls shows no session while up waits")
	}
	if out, err := exec.Command("scancel", blocker).CombinedOutput(); err != nil {
		t.Fatalf("scancel the blocker: %v %s", err, out)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("up after the GPUs were freed: %v\n%s", err, stderr)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("up did not finish once the GPUs were free:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "running on") {
		t.Errorf("up's progress never said the job runs:\n%s", stderr)
	}
	if out := c.ok("providers").stdout; !strings.Contains(out, "honours: cpus, memory_mib, timeout, idle_timeout, files, models") {
		t.Errorf("sena providers does not say what the slurm plugin honours:\n%s", out)
	}
	if r := c.row(id); r.Status != "running" {
		t.Errorf("ls once the job started: %+v, want running", r)
	}
	if r := c.ok("exec", id, "print(6 * 7)"); strings.TrimSpace(r.stdout) != "42" {
		t.Errorf("exec: %q", r.stdout)
	}
}

// A job cancelled from outside Sena, and one that hits SLURM's time limit,
// show as stopped with why.
func TestEndedJobsSayWhy(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	cancelled := c.up()
	limited := c.up("--provider-option", "sbatch_args=--time=1") // SLURM's own limit: one minute
	start := time.Now()
	if out, err := exec.Command("scancel", sessionJob(t, cancelled.SessionID).ID).CombinedOutput(); err != nil {
		t.Fatalf("scancel: %v %s", err, out)
	}
	ended := func(r lsRow) bool { return r.Status != "running" && r.Reason != endingReason }
	r := c.waitRow(cancelled.SessionID, 30*time.Second, ended)
	if r.Status != "stopped" || r.Reason != "job cancelled (scancel)" {
		t.Errorf("ls after scancel: %+v, want stopped (job cancelled (scancel))", r)
	}
	r = c.waitRow(limited.SessionID, 3*time.Minute, ended)
	if r.Status != "stopped" || r.Reason != "SLURM's time limit reached" || time.Since(start) < 50*time.Second {
		t.Errorf("ls after %s: %+v, want stopped (SLURM's time limit reached) after a minute", time.Since(start).Round(time.Second), r)
	}
	c.ok("down", cancelled.SessionID, limited.SessionID)
}

// Ctrl-C while up waits in the queue cancels the job. sena killed with
// SIGKILL while its job waits in the queue: ls shows the
// session abandoned and gc leaves nothing, whether or not the plugin had
// time to cancel the job on its way out. Killed with its plugin (the login
// node's session gone), the job waits on with its labels: with the state
// dir's records lost too, ls shows it as an orphan and gc cancels it.
func TestKilledUpThenGC(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	blockGPUs(t, "l4")
	interruptedUp(t, c)
	for _, withPlugin := range []bool{false, true} {
		cmd := c.command(c.upArgs("--gpu", "L4:2")...)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, stderr, "queued: Resources", 60*time.Second)
		if withPlugin {
			for _, pid := range children(cmd.Process.Pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		rows := c.ls()
		if len(rows) != 1 || rows[0].Status != "abandoned" {
			t.Fatalf("ls after kill -9 (plugin killed too: %v): %+v, want one abandoned session", withPlugin, rows)
		}
		id := rows[0].ID
		if withPlugin {
			if j := sessionJob(t, id); j.State != "PENDING" {
				t.Fatalf("the job of the killed up is %s, want still PENDING", j.State)
			}
			// Lose the records: the job's labels still name this state dir.
			if err := os.RemoveAll(filepath.Join(c.state, "sessions")); err != nil {
				t.Fatal(err)
			}
			rows = c.ls()
			if len(rows) != 1 || rows[0].ID != id || rows[0].Status != "orphan" || !strings.HasPrefix(rows[0].Reason, "Resources") {
				t.Fatalf("ls with the records lost: %+v, want the job as an orphan, queued (Resources)", rows)
			}
		}
		if r := c.ok("--provider", "slurm", "gc"); !strings.Contains(r.stdout, "removed "+id) {
			t.Errorf("gc did not say it removed %s: %q", id, r.stdout)
		}
		if j := sessionJob(t, id); active(j.State) {
			t.Errorf("after gc the job is %s", j.State)
		}
		if rows := c.ls(); len(rows) != 0 {
			t.Errorf("ls after gc: %+v", rows)
		}
		c.assertNoJobs()
	}
}

// interruptedUp: Ctrl-C while up waits in the queue cancels the job and
// leaves nothing. The node's L4 GPUs are busy.
func interruptedUp(t *testing.T, c *senaCLI) {
	t.Helper()
	cmd := c.command(c.upArgs("--gpu", "L4:1")...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stderr, "queued: Resources", 60*time.Second)
	id := c.ls()[0].ID
	job := sessionJob(t, id).ID
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err == nil {
		t.Errorf("an interrupted up exited 0:\n%s", stderr)
	}
	if j, err := jobByID(context.Background(), job); err != nil || j != nil && active(j.State) {
		t.Errorf("after Ctrl-C the job is %+v (%v), want cancelled", j, err)
	}
	if rows := c.ls(); len(rows) != 0 {
		t.Errorf("ls after Ctrl-C: %+v", rows)
	}
	c.assertNoJobs()
}

// children are the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		data, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			out = append(out, n)
		}
	}
	return out
}

// Bad input is refused with an error that says what to do, and nothing
// is left submitted.
func TestBadInput(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	noSlurm := t.TempDir() // a PATH with Python but none of SLURM's commands
	if err := os.Symlink(c.py, filepath.Join(noSlurm, "python3")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"no SLURM on PATH", nil, []string{"PATH=" + noSlurm}, "sinfo is not on PATH"},
		{"unknown partition", []string{"--provider-option", "partition=nope"}, nil, `no partition "nope" that you can use; it has debug`},
		{"GPU kind the cluster lacks", []string{"--gpu", "B200:1"}, nil, "has no B200 GPUs; it has a100 (up to 2 per node), h100 (up to 2 per node), l4 (up to 2 per node)"},
		{"too many GPUs", []string{"--gpu", "A100:3"}, nil, "at most 2 a100 GPUs on one node, 3 requested"},
		{"sbatch refuses", []string{"--provider-option", "constraint=nosuchfeature"}, nil, "sbatch refused the job: Batch job submission failed: Invalid feature specification"},
		{"reserved sbatch option", []string{"--provider-option", "sbatch_args=--job-name=x"}, nil, "sbatch_args may not set --job-name"},
		{"unreachable node", []string{"--provider-option", "node_address={node}.invalid"}, nil, "this host cannot reach"},
		{"login host without agent", []string{"--provider-option", "login_host=127.0.0.1:1"}, []string{"SSH_AUTH_SOCK="}, "SSH_AUTH_SOCK is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := c.env
			c.env = append(append([]string{}, c.env...), tc.env...)
			r := c.run(c.upArgs(tc.args...)...)
			c.env = saved
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("up: exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tc.want)
			}
			if rows := c.ls(); len(rows) != 0 {
				t.Errorf("a refused up left sessions: %+v", rows)
			}
			c.assertNoJobs()
		})
	}
}

func waitFor(t *testing.T, b *lockedBuffer, marker string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(b.String(), marker) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q in:\n%s", marker, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer a child process and the test share.
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
