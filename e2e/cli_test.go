package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cli runs the real sena binary with its own state dir and plugin dir.
type cli struct {
	t        *testing.T
	stateDir string
	provider string
	env      []string // added to the test's environment, later entries winning
}

func newCLI(t *testing.T, provider string) *cli {
	requireDocker(t)
	requireBinaries(t)
	return &cli{t: t, stateDir: t.TempDir(), provider: provider}
}

func (c *cli) command(ctx context.Context, args ...string) *exec.Cmd {
	global := []string{"--provider", c.provider, "--state-dir", c.stateDir, "--plugin-dir", pluginDir}
	cmd := exec.CommandContext(ctx, senaBin, append(global, args...)...)
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}
	return cmd
}

// owner is the sena.statedir label of this CLI's sandboxes: a hash of its
// state dir, as core/session's Store.Owner computes it. Tests select and
// remove only containers with it, never another test's or user's.
func (c *cli) owner() string {
	abs, err := filepath.Abs(c.stateDir)
	if err != nil {
		c.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:6])
}

// run runs sena and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	// Not t.Context(): cleanups run `down` after it is cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.t.Context()), 5*time.Minute)
	defer cancel()
	cmd := c.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("sena %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// ok runs sena and fails the test unless it exits 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("sena %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// upResult is what `sena --json up` prints.
type upResult struct {
	SessionID    string `json:"session_id"`
	SandboxID    string `json:"sandbox_id"`
	Provider     string `json:"provider"`
	JupyterURL   string `json:"jupyter_url"`
	NotebookPath string `json:"notebook_path"`
	Environment  struct {
		Image string `json:"image"`
	} `json:"environment"`
}

func (c *cli) up(args ...string) upResult {
	c.t.Helper()
	out := c.ok(append([]string{"--json", "up"}, args...)...)
	var r upResult
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.SessionID == "" || r.JupyterURL == "" {
		c.t.Fatalf("sena up printed %q (%v); want a JSON object with session_id and jupyter_url", out, err)
	}
	c.t.Cleanup(func() { c.run("down", r.SessionID) }) // a no-op when the test got to down
	return r
}

// containers lists the ids of containers (running or not) with all labels.
func containers(t *testing.T, labels ...string) []string {
	args := []string{"ps", "-aq", "--no-trunc"}
	for _, l := range labels {
		args = append(args, "--filter", "label="+l)
	}
	return dockerLines(context.WithoutCancel(t.Context()), t, args...)
}

// sessionRoundTrip is the user's whole story on one provider: up, state that
// persists between execs, the notebook, down, and nothing left behind.
func sessionRoundTrip(t *testing.T, provider string) {
	c := newCLI(t, provider)
	r := c.up("--image", testImage(t))
	if got := containers(t, "sena.managed=true", "sena.session="+r.SessionID); len(got) != 1 {
		t.Fatalf("containers for session %s: %v, want one", r.SessionID, got)
	}
	// The manifest names the image with the content it ran.
	id := dockerLines(t.Context(), t, "image", "inspect", "--format", "{{.Id}}", testImage(t))
	if want := testImage(t) + "@" + strings.Join(id, ""); r.Environment.Image != want {
		t.Errorf("up --json environment.image = %q, want %q", r.Environment.Image, want)
	}

	c.ok("exec", r.SessionID, "x = 41")
	if out := c.ok("exec", r.SessionID, "print(x+1)"); strings.TrimSpace(out) != "42" {
		t.Errorf("exec print(x+1) printed %q, want 42: kernel state must persist", out)
	}
	if _, _, code := c.run("exec", r.SessionID, "1/0"); code != 1 {
		t.Errorf("exec of a Python error: exit %d, want 1", code)
	}

	nb := t.TempDir() + "/out.ipynb"
	c.ok("notebook", "-o", nb, r.SessionID)
	var doc struct {
		Cells []struct {
			CellType string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
		} `json:"cells"`
	}
	data, err := os.ReadFile(nb)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("notebook is not JSON: %v", err)
	}
	var sources []string
	for _, cell := range doc.Cells {
		sources = append(sources, cellSource(cell.Source))
	}
	if !slices.Contains(sources, "x = 41") || !slices.Contains(sources, "print(x+1)") {
		t.Errorf("notebook cells %q: want both executed cells", sources)
	}

	out := c.ok("--json", "ls")
	var ls []struct {
		ID               string `json:"session_id"`
		Provider, Status string
		JupyterURL       string `json:"jupyter_url"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 || ls[0].ID != r.SessionID {
		t.Errorf("sena ls --json = %s (%v), want the one session", out, err)
	}

	c.ok("down", r.SessionID)
	assertGone(t, r)
}

// assertGone checks that no container, network or port of the session remains.
func assertGone(t *testing.T, r upResult) {
	t.Helper()
	if got := containers(t, "sena.session="+r.SessionID); len(got) != 0 {
		t.Errorf("containers left after down: %v", got)
	}
	if got := dockerLines(t.Context(), t, "network", "ls", "-q", "--filter", "label=sena.session="+r.SessionID); len(got) != 0 {
		t.Errorf("networks left after down: %v", got)
	}
	u, err := url.Parse(r.JupyterURL)
	if err != nil {
		t.Fatal(err)
	}
	// Only a port published on the loopback: a network=none sandbox's
	// address belonged to a network that is gone, and a dial there would
	// leave this machine.
	if u.Hostname() != "127.0.0.1" {
		return
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("Jupyter's port %s still open after down", u.Host)
	}
}

// cellSource reads a notebook cell's source: a string or a list of lines.
func cellSource(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var lines []string
	_ = json.Unmarshal(raw, &lines)
	return strings.TrimSpace(strings.Join(lines, ""))
}

func TestDockerSession(t *testing.T) { sessionRoundTrip(t, "docker") }

func TestDockerPluginSession(t *testing.T) { sessionRoundTrip(t, pluginName) }

func TestGPUOnEngineWithoutGPUsFailsAtOnce(t *testing.T) {
	c := newCLI(t, "docker")
	start := time.Now()
	out, errOut, code := c.run("--json", "up", "--image", testImage(t), "--gpu", "A100")
	if code == 0 {
		var r upResult
		_ = json.Unmarshal([]byte(out), &r)
		c.run("down", r.SessionID)
		t.Skip("this engine serves A100s")
	}
	if !strings.Contains(errOut, "cannot give containers GPUs") || !strings.Contains(errOut, "NVIDIA Container Toolkit") {
		t.Errorf("up --gpu A100: exit %d, stderr %q; want the engine's refusal and what to install", code, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("up --gpu A100 took %s to fail; it should fail at once", d)
	}
	if left := containers(t, "sena.statedir="+c.owner()); len(left) != 0 {
		t.Errorf("failed up left containers %v", left)
	}
	if out := c.ok("--json", "ls"); strings.TrimSpace(out) != "[]" {
		t.Errorf("sena ls after a failed up = %s, want []", out)
	}
}

func TestGCAfterKilledUp(t *testing.T) {
	c := newCLI(t, "docker")
	img := testImage(t)

	up := c.command(t.Context(), "up", "--image", img)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	var orphan string
	deadline := time.Now().Add(2 * time.Minute)
	for orphan == "" && time.Now().Before(deadline) {
		// Only this test's state dir: never another test's container.
		if ids := containers(t, "sena.managed=true", "sena.statedir="+c.owner()); len(ids) > 0 {
			orphan = ids[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := up.Process.Signal(syscall.SIGKILL); err != nil {
		t.Logf("kill -9 sena up: %v (it may have finished)", err)
	}
	_ = up.Wait()
	if orphan == "" {
		t.Fatal("no sena container appeared within 2 minutes of `sena up`")
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", orphan).Run() })

	c.ok("gc")
	if out, err := exec.CommandContext(t.Context(), "docker", "inspect", "--format", "{{.State.Status}}", orphan).CombinedOutput(); err == nil {
		t.Errorf("container %s still exists after sena gc (%s)", orphan, strings.TrimSpace(string(out)))
	}
}
