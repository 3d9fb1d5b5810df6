package slurm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// The tests run against a real one-node cluster, started by scripts/slurm-up
// (which CI's setup runs). Where it is absent they skip, and fail in CI.

func TestMain(m *testing.M) {
	ServeTunnel() // this test binary is also the tunnel process of in-process tests
	// The tests wait on SLURM and Jupyter more than they compute: run four
	// at once rather than GOMAXPROCS, unless told otherwise (more starve
	// the kernels of a 2-core machine).
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "4")
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needCluster skips (fails in CI) unless a SLURM cluster answers.
func needCluster(t testing.TB) {
	t.Helper()
	out, err := exec.Command("sinfo", "--noheader", "--format=%T").CombinedOutput()
	if err == nil && strings.TrimSpace(string(out)) != "" && !strings.Contains(string(out), "down") {
		return
	}
	msg := "no SLURM cluster answers (sinfo: " + strings.TrimSpace(string(out)) + "): run scripts/slurm-up as root"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// need skips (fails in CI) when a program the test uses is missing.
func need(t testing.TB, prog, why string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed: %s", prog, why)
	}
	t.Skipf("%s is not installed: %s", prog, why)
	return ""
}

func python(t testing.TB) string { return jupytertest.Interpreters(t)[0].Path }

// sharedDir is a fresh shared_dir, removed when the test ends (after the
// test's sandboxes, whose cleanups run first).
func sharedDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "sena-slurm-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// blockGPUs submits a job that holds both of the node's GPUs of one type,
// so the next job that asks for one queues, and returns its id; it is
// cancelled when the test ends. The test cluster has two GPUs of each of
// three types (a100, h100, l4): the tests that fill one each use their own.
func blockGPUs(t testing.TB, gpuType string) string {
	t.Helper()
	out, err := exec.Command("sbatch", "--parsable", "--job-name=gpu-blocker", "--gres=gpu:"+gpuType+":2", "--output=/dev/null", "--wrap=sleep 600").CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch the blocker: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("scancel", id).Run() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		j, err := jobByID(context.Background(), id)
		if err == nil && j != nil && j.State == "RUNNING" {
			return id
		}
		time.Sleep(200 * time.Millisecond)
	}
	running, _ := exec.Command("squeue", "--noheader", "--states=running", "--format=%i %j %b").CombinedOutput()
	t.Fatalf("the blocker job %s did not start within 30s; running:\n%s", id, running)
	return ""
}

// standinCUDA builds testdata/standin_cuda.c as a libcuda.so.1 and returns
// the setup option that puts it before any other in the job, for the tests
// whose `up --gpu` Sena checks in the kernel: CUDA then sees the GPUs SLURM
// allocated, named as scripts/slurm-up's gres.conf orders them.
func standinCUDA(t testing.TB) string {
	t.Helper()
	cc := need(t, "cc", "apt-get install gcc")
	dir := filepath.Join(sharedDir(t), "standin-cuda")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libcuda.so.1"), "testdata/standin_cuda.c").CombinedOutput(); err != nil {
		t.Fatalf("build the stand-in libcuda: %v\n%s", err, out)
	}
	names := "NVIDIA A100-SXM4-80GB,NVIDIA A100-SXM4-80GB,NVIDIA H100 80GB HBM3,NVIDIA H100 80GB HBM3,NVIDIA L4,NVIDIA L4"
	return fmt.Sprintf("setup=export LD_LIBRARY_PATH=%s SENA_STANDIN_GPU_NAMES=%q", dir, names)
}
