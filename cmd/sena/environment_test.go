package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook/nbtest"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/internal/wheeltest"
)

// envUp is what these tests read of `up --json`.
type envUp struct {
	upOut
	Environment struct {
		Python   struct{ Executable, Version string }
		Packages map[string]string
		Models   []struct {
			Name, Revision, Commit string
			EnvVar                 string `json:"env_var"`
		}
		GPU struct{ Count int }
	}
}

// The kernel runs the environment Sena made, with --python and without a
// kernelspec of its own in the way (Debian's python3-ipykernel installs one
// for /usr/bin/python3), on jupyter_server 1.23 and 2.x; up checks it in
// the kernel and records it in the notebook; an environment that is not
// what was asked fails up, naming the difference, leaving nothing.
func TestEnvironmentVerified(t *testing.T) {
	reqs, err := wheeltest.Serve(t, "127.0.0.1",
		wheeltest.Wheel{Name: "sena-env-probe", Version: "1.3", Module: "VALUE = 'probe 1.3'\n"},
		wheeltest.Wheel{Name: "sena-broken", Version: "1.0", Module: "raise ImportError('this package is broken on purpose')\n"},
	)
	if err != nil {
		t.Fatal(err)
	}
	probe, broken := reqs[0], reqs[1]
	for _, py := range jupytertest.Interpreters(t) {
		t.Run(py.Name, func(t *testing.T) {
			c := newCLI(t)
			r := c.ok("--json", "up", "--python", py.Path, "--package", probe)
			var u envUp
			if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(c.ok("exec", u.SessionID, "import sena_env_probe; print(sena_env_probe.VALUE)").stdout); got != "probe 1.3" {
				t.Errorf("the package is not importable in the kernel: %q", got)
			}
			if u.Environment.Packages["sena-env-probe"] != "1.3" || u.Environment.Python.Version == "" {
				t.Errorf("manifest %+v", u.Environment)
			}
			exe := strings.TrimSpace(c.ok("exec", u.SessionID, "import sys; print(sys.executable)").stdout)
			if exe != u.Environment.Python.Executable || exe == py.Path {
				t.Errorf("the kernel runs %s; the manifest says %s; --python was %s (the packages are in an environment on top of it)", exe, u.Environment.Python.Executable, py.Path)
			}
			// The manifest is in the notebook's metadata, and it validates.
			var nb struct {
				Metadata struct {
					Sena struct{ Packages map[string]string } `json:"sena"`
				} `json:"metadata"`
			}
			data, _ := os.ReadFile(u.NotebookPath)
			if json.Unmarshal(data, &nb); nb.Metadata.Sena.Packages["sena-env-probe"] != "1.3" {
				t.Errorf("metadata.sena lacks the packages: %s", data)
			}
			nbtest.ValidateWith(t, nbtest.Python(t), u.NotebookPath)
			out := filepath.Join(t.TempDir(), "copy.ipynb")
			c.ok("notebook", "-o", out, u.SessionID)
			if copied, _ := os.ReadFile(out); !strings.Contains(string(copied), `"sena"`) {
				t.Errorf("sena notebook dropped metadata.sena")
			}
			c.ok("down", u.SessionID)

			// A package that installs but cannot be imported.
			r = c.run("up", "--python", py.Path, "--package", broken)
			if r.code != 1 || !strings.Contains(r.stderr, "sena-broken") || !strings.Contains(r.stderr, "import sena_broken` fails") || !strings.Contains(r.stderr, "broken on purpose") {
				t.Errorf("a broken package: exit %d, stderr %q; want exit 1 naming it and why", r.code, r.stderr)
			}
			assertNothingLeft(t, c)
		})
	}
}

// A GPU the host reports (a stand-in nvidia-smi) but CUDA in the kernel
// cannot see fails up, naming both, and leaves nothing.
func TestGPUTheKernelCannotSee(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	smi := filepath.Join(t.TempDir(), "nvidia-smi")
	os.WriteFile(smi, []byte("#!/bin/sh\nprintf '0, NVIDIA H100 80GB HBM3\\n'\n"), 0o755)
	c := newCLI(t)
	c.env = append(c.env, "SENA_NVIDIA_SMI="+smi)
	r := c.run("up", "--python", py, "--gpu", "H100")
	if r.code != 1 || !strings.Contains(r.stderr, "gpu: 1 H100 asked for, CUDA in the kernel sees 0") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the GPU the kernel cannot see", r.code, r.stderr)
	}
	assertNothingLeft(t, c)
}

// Two revisions of one model get two variables, each with its own commit,
// in the sandbox and the manifest.
func TestTwoRevisionsTwoVariables(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	hubSrv := hubtest.NewServer(t)
	main := hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	cfg := hubtest.TinyLlamaConfig
	cfg.Layers = 1
	v2 := hubSrv.AddRepo("sena-test/tiny-llama", "v2", hubtest.LlamaRepo(cfg))
	c := newCLI(t)
	c.env = []string{"HF_ENDPOINT=" + hubSrv.URL, "HF_HUB_CACHE=" + t.TempDir()}
	r := c.ok("--json", "up", "--python", py, "--model", "sena-test/tiny-llama", "--model", "sena-test/tiny-llama@v2")
	var u envUp
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(c.ok("exec", u.SessionID, "import os\nfor v in ('MODEL_SENA_TEST_TINY_LLAMA_PATH', 'MODEL_SENA_TEST_TINY_LLAMA_V2_PATH'): print(os.path.basename(os.environ[v]))").stdout)
	if len(got) != 2 || got[0] != main || got[1] != v2 {
		t.Fatalf("the two variables hold snapshots %v, want %s and %s", got, main, v2)
	}
	if m := u.Environment.Models; len(m) != 2 || m[0].Commit != main || m[1].Commit != v2 || m[1].EnvVar != "MODEL_SENA_TEST_TINY_LLAMA_V2_PATH" {
		t.Errorf("manifest models %+v", m)
	}
	c.ok("down", u.SessionID)
	if r := c.run("up", "--python", py, "--model", "sena-test/tiny-llama", "--model", "sena-test/tiny-llama"); r.code != 2 || !strings.Contains(r.stderr, "would both be in MODEL_SENA_TEST_TINY_LLAMA_PATH") {
		t.Errorf("the same model twice: exit %d, stderr %q", r.code, r.stderr)
	}
}

// --hide-models on the local provider is refused unless the user accepts
// that the kernel can read the host's cache.
func TestHiddenModelsOnTheHostNeedConsent(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	r := c.run("up", "--python", py, "--model", "sena-test/tiny-llama", "--hide-models")
	if r.code != 2 || !strings.Contains(r.stderr, "acknowledge_visible_models=true") {
		t.Fatalf("exit %d, stderr %q; want the refusal with the option that accepts it", r.code, r.stderr)
	}
	assertNothingLeft(t, c)
}

func assertNothingLeft(t *testing.T, c *senaCLI) {
	t.Helper()
	var ls []any
	json.Unmarshal([]byte(c.ok("--json", "ls").stdout), &ls)
	if len(ls) != 0 {
		t.Fatalf("sessions left: %v", ls)
	}
	assertNoLocalSandboxes(t, c)
}

// A local sandbox does not inherit the shell's variables (they hold
// credentials): only what Python and CUDA need, and what --env and
// --secret name.
func TestLocalSandboxEnvironmentIsMinimal(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	c.env = append(c.env, "SENA_TEST_SHELL_TOKEN=hunter2", "SENA_TEST_NAMED=named-value")
	u := c.up("--python", py, "--secret", "SENA_TEST_NAMED")
	got := strings.TrimSpace(c.ok("exec", u.SessionID, "import os; print(os.environ.get('SENA_TEST_SHELL_TOKEN'), os.environ.get('SENA_TEST_NAMED'), 'PATH' in os.environ)").stdout)
	if got != "None named-value True" {
		t.Fatalf("the kernel's environment: %q; want the shell's variable absent and the secret present", got)
	}
}

// A kernel that dies between two `sena exec` calls is not replaced
// silently: the next call says the kernel is fresh, and so does the
// notebook.
func TestKernelDiedBetweenCallsIsTold(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	u := c.up("--python", py)
	pid, _ := strconv.Atoi(strings.TrimSpace(c.ok("exec", u.SessionID, "x = 1\nimport os; print(os.getpid())").stdout))
	if pid <= 0 || syscall.Kill(pid, syscall.SIGKILL) != nil { // dies while idle; Jupyter starts a new one
		t.Fatalf("kill the kernel (pid %d)", pid)
	}
	time.Sleep(3 * time.Second) // Jupyter notices and restarts it
	r := c.run("exec", u.SessionID, "print('x' in globals())")
	if !strings.Contains(r.stderr, "the kernel restarted since the last call") || strings.TrimSpace(r.stdout) != "False" {
		t.Fatalf("exit %d stdout %q stderr %q; want the note on stderr and a fresh kernel", r.code, r.stdout, r.stderr)
	}
	if r := c.ok("exec", u.SessionID, "print(1)"); strings.Contains(r.stderr, "restarted") {
		t.Errorf("the note repeats on the call after: %q", r.stderr)
	}
	data, _ := os.ReadFile(u.NotebookPath)
	if !strings.Contains(string(data), "the kernel restarted since the last call") {
		t.Errorf("the notebook does not record the restart")
	}
}

// Code that is not UTF-8 is refused with the offset of the bad byte, not
// run with the byte replaced; exec on a session whose up died says so.
func TestExecRefusals(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	u := c.up("--python", py)
	r := c.runIn("print('caf\xe9')", "exec", u.SessionID, "-")
	if r.code != 2 || !strings.Contains(r.stderr, "byte 10 (0xe9)") {
		t.Errorf("invalid UTF-8: exit %d, stderr %q", r.code, r.stderr)
	}
	// A record left starting by an up that died.
	rec := filepath.Join(c.state, "sessions", u.SessionID+".json")
	data, _ := os.ReadFile(rec)
	var m map[string]any
	json.Unmarshal(data, &m)
	m["state"], m["up_owner"] = "starting", "999999999:0"
	data, _ = json.Marshal(m)
	os.WriteFile(rec, data, 0o600)
	if r := c.run("exec", u.SessionID, "1"); r.code != 2 || !strings.Contains(r.stderr, "sena gc") {
		t.Errorf("exec on an abandoned session: exit %d, stderr %q", r.code, r.stderr)
	}
}
