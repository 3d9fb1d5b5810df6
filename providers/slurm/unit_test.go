package slurm

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
)

// What sinfo prints for the GRES of real clusters' nodes.
func TestParseGres(t *testing.T) {
	for in, want := range map[string]map[string]int{
		"gpu:a100:2":                       {"a100": 2},
		"gpu:a100:2(S:0-1)":                {"a100": 2},
		"gpu:a100:4(S:0,1),gpu:v100:1":     {"a100": 4, "v100": 1},
		"gpu:4":                            {"": 4},
		"gpu:a100_80g:8(S:0-1),shard:32":   {"a100_80g": 8},
		"(null)":                           {},
		"gpu:h100:4(IDX:0-3),mps:400(S:0)": {"h100": 4},
	} {
		if got := parseGres(in); !maps.Equal(got, want) {
			t.Errorf("parseGres(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestGresForAKind(t *testing.T) {
	ns := func(gres ...string) []node {
		var out []node
		for _, g := range gres {
			out = append(out, node{Partition: "gpu", GPUs: parseGres(g)})
		}
		return out
	}
	for _, tc := range []struct {
		gpu     core.GPU
		gpuType string
		nodes   []node
		want    string // the --gres value, or what the error says
	}{
		{core.GPU{}, "", ns("(null)"), ""},
		{core.GPU{Kind: "A100", Count: 2}, "", ns("gpu:a100:4"), "gpu:a100:2"},
		{core.GPU{Kind: "A100-80GB", Count: 1}, "", ns("gpu:a100_80gb:4", "gpu:a100_40gb:4"), "gpu:a100_80gb:1"},
		{core.GPU{Kind: "A100", Count: 1}, "", ns("gpu:a100_80g:8"), "gpu:a100_80g:1"},
		{core.GPU{Kind: "A100", Count: 1}, "", ns("gpu:a100_80g:8", "gpu:a100_40g:4"), "several A100 types (a100_40g, a100_80g)"},
		{core.GPU{Kind: "H100", Count: 1}, "", ns("gpu:a100:4"), "has no H100 GPUs; it has a100 (up to 4 per node)"},
		{core.GPU{Kind: "A100", Count: 8}, "", ns("gpu:a100:4", "gpu:a100:4"), "at most 4 a100 GPUs on one node, 8 requested"},
		{core.GPU{Kind: "H100", Count: 1}, "", ns("gpu:4"), "names no GPU types"},
		{core.GPU{Kind: "H100", Count: 2}, "any", ns("gpu:4"), "gpu:2"},
		{core.GPU{Kind: "H100", Count: 1}, "nvidia_h100", ns("gpu:nvidia_h100:8"), "gpu:nvidia_h100:1"},
		{core.GPU{Kind: "T4", Count: 1}, "", ns("(null)"), "has no GPUs"},
	} {
		got, err := gres(tc.gpu, tc.gpuType, tc.nodes, "gpu")
		if err != nil {
			if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("gres(%v, %q): %v, want %q", tc.gpu, tc.gpuType, err, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("gres(%v, %q) = %q, want %q", tc.gpu, tc.gpuType, got, tc.want)
		}
	}
}

func TestPartitionNodes(t *testing.T) {
	all := parseNodes("debug*\x1fn1\x1fgpu:a100:2\x1f10.0.0.1\ngpu\x1fn2\x1fgpu:h100:8\x1fn2\n")
	if ns, err := partitionNodes(all, ""); err != nil || len(ns) != 1 || ns[0].Name != "n1" {
		t.Errorf("default partition: %+v %v", ns, err)
	}
	if ns, err := partitionNodes(all, "gpu"); err != nil || len(ns) != 1 || ns[0].Name != "n2" {
		t.Errorf("partition gpu: %+v %v", ns, err)
	}
	if _, err := partitionNodes(all, "big"); err == nil || !strings.Contains(err.Error(), "it has debug, gpu") {
		t.Errorf("an unknown partition: %v", err)
	}
	if got := nodeAddr("{addr}", "n1", all); got != "10.0.0.1" {
		t.Errorf("{addr} of n1 = %q", got)
	}
	if got := nodeAddr("{node}.ib.example.org", "n1", all); got != "n1.ib.example.org" {
		t.Errorf("{node}.ib... of n1 = %q", got)
	}
}

// Labels survive the comment, including values a URL would escape, and a
// job Sena did not start has none.
func TestLabelsInTheComment(t *testing.T) {
	labels := map[string]string{core.LabelManaged: "true", core.LabelSession: "s1", "team": "interp & co=1"}
	got, ok := labelsOf(job{Name: jobName("s1"), Comment: comment(labels)})
	if !ok || !maps.Equal(got, labels) {
		t.Errorf("labels back from %q: %v %v", comment(labels), got, ok)
	}
	for _, j := range []job{{Name: "train", Comment: comment(labels)}, {Name: "sena-x", Comment: "my notes"}} {
		if _, ok := labelsOf(j); ok {
			t.Errorf("job %+v read as Sena's", j)
		}
	}
}

func TestSbatchArgs(t *testing.T) {
	for _, bad := range []string{"--job-name=x", "-Jx", "-J", "--output=/tmp/o", "--chdir=/", "--nodes=2", "--array=1-3", "x"} {
		if _, err := decodeOptions([]byte(`{"sbatch_args": ["` + bad + `"]}`)); !errors.Is(err, core.ErrInvalidConfig) {
			t.Errorf("sbatch_args %q: %v, want refused", bad, err)
		}
	}
	o, err := decodeOptions([]byte(`{"partition": "gpu", "qos": "short", "sbatch_args": ["--exclusive", "--reservation=r1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	spec := &core.SandboxSpec{CPUs: 1.5, MemoryMiB: 2048, Timeout: 90 * time.Second}
	got := strings.Join(sbatchArgs(o, spec, "s1", "/shared/jobs/s1", "gpu:a100:2", map[string]string{core.LabelSession: "s1"}), " ")
	want := "--parsable --job-name=sena-s1 --comment=sena:sena.session=s1 --output=/shared/jobs/s1/job.log --chdir=/shared/jobs/s1/work " +
		"--nodes=1 --ntasks=1 --no-requeue --partition=gpu --qos=short --gres=gpu:a100:2 --cpus-per-task=2 --mem=2048M --time=2 --exclusive --reservation=r1"
	if got != want {
		t.Errorf("sbatch args:\n got %s\nwant %s", got, want)
	}
}

func TestPendingReason(t *testing.T) {
	for in, want := range map[string]string{
		"Resources":                            "Resources: waiting for free nodes or GPUs",
		"(Priority)":                           "Priority: jobs ahead of it in the queue",
		"QOSMaxGRESPerUser":                    "QOSMaxGRESPerUser: your GPU limit is in use",
		"ReqNodeNotAvail, UnavailableNodes:n1": "ReqNodeNotAvail: the nodes it needs are unavailable",
		"None":                                 "waiting to be scheduled",
		"AssocMaxJobsLimit":                    "AssocMaxJobsLimit",
	} {
		if got := pendingReason(in); got != want {
			t.Errorf("pendingReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// The batch script is bash that parses, keeps the token and the sandbox's
// variables off its command lines, and puts Sena's launcher on a port the
// job picks.
func TestScript(t *testing.T) {
	bash := need(t, "bash", "apt-get install bash")
	o, _ := decodeOptions([]byte(`{"python": "/opt/py it's/bin/python", "setup": "module load cuda"}`))
	dir := t.TempDir()
	s := script(o, &core.SandboxSpec{Timeout: time.Minute, IdleTimeout: time.Minute}, dir)
	path := filepath.Join(dir, scriptFile)
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v %s\n%s", err, out, s)
	}
	for _, want := range []string{`py='/opt/py it'\''s/bin/python'`, "module load cuda", `"--ServerApp.port=$port"`, "--sena-idle-timeout=60", "sleep 60"} {
		if !strings.Contains(s, want) {
			t.Errorf("the script lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "JUPYTER_TOKEN=") && !strings.Contains(s, `JUPYTER_TOKEN=$(<"$dir/token")`) {
		t.Errorf("the script sets the token other than from its file:\n%s", s)
	}
	if got := string(envData(map[string]string{"B": "two words", "A": "x=y"})); got != "A=x=y\x00B=two words\x00" {
		t.Errorf("envData = %q", got)
	}
}

func TestHandleVersions(t *testing.T) {
	h := newHandle("s1", jobState{JobID: "7", Dir: "/d/s1"})
	if st, err := readHandle(h); err != nil || st.JobID != "7" {
		t.Errorf("readHandle: %+v %v", st, err)
	}
	h.Version = handleVersion + 1
	if _, err := readHandle(h); !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a newer handle: %v", err)
	}
	if _, err := readHandle(core.Handle{ID: "s1", State: []byte("{}")}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a handle without a job: %v", err)
	}
}

// Every state squeue reports is a sandbox status with a reason to act on.
func TestStatusOfEachState(t *testing.T) {
	dir := t.TempDir()
	for state, want := range map[string][2]string{
		"PENDING":       {"queued", "Resources: waiting for free nodes or GPUs"},
		"CONFIGURING":   {"queued", "its nodes are booting"},
		"RUNNING":       {"running", ""},
		"COMPLETING":    {"stopped", endingReason},
		"TIMEOUT":       {"stopped", "SLURM's time limit reached"},
		"CANCELLED":     {"stopped", "job cancelled (scancel)"},
		"PREEMPTED":     {"stopped", "preempted by another job"},
		"NODE_FAIL":     {"stopped", "its node failed"},
		"OUT_OF_MEMORY": {"stopped", "out of memory (the job's --mem)"},
		"COMPLETED":     {"stopped", "the job ended"},
		"FAILED":        {"stopped", "the job failed (" + filepath.Join(dir, logFile) + " says why)"},
	} {
		s, why := status(&job{State: state, Reason: "Resources"}, dir)
		if string(s) != want[0] || why != want[1] {
			t.Errorf("%s: %s (%s), want %s (%s)", state, s, why, want[0], want[1])
		}
	}
	// Why Jupyter stopped, as the job wrote it, says more than COMPLETED.
	for written, want := range map[string]string{
		"timeout": "its timeout was reached", "idle": "idle timeout: no kernel activity", "exit 0": "Jupyter exited",
	} {
		os.WriteFile(filepath.Join(dir, endedFile), []byte(written+"\n"), 0o600)
		if _, why := status(&job{State: "COMPLETED"}, dir); why != want {
			t.Errorf("ended %q: %q, want %q", written, why, want)
		}
	}
}
