package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// inspect reads a container as `docker inspect` shows it, through
// testcontainers' client: the decoded response and its raw JSON.
func inspect(t *testing.T, id string) (container.InspectResponse, string) {
	t.Helper()
	dc, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	res, err := dc.ContainerInspect(t.Context(), id, mobyclient.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return res.Container, string(res.Raw)
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tokenOf reads the Jupyter token from the URL `up` printed.
func tokenOf(t *testing.T, r upResult) string {
	u, err := url.Parse(r.JupyterURL)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("jupyter_url %q has no token", r.JupyterURL)
	}
	return u.Query().Get("token")
}

// peer starts a container on the engine's default bridge serving HTTP on
// port 8000 and returns its address: a machine beyond a sandbox's own
// network, on this host, for checking what the sandbox can reach.
func peer(t *testing.T) string {
	t.Helper()
	ctr, err := testcontainers.Run(t.Context(), testImage(t),
		testcontainers.WithEntrypoint("python3", "-m", "http.server", "8000"),
		testcontainers.WithExposedPorts("8000/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/").WithPort("8000/tcp")),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start the peer container: %v", err)
	}
	ip, err := ctr.ContainerIP(t.Context())
	if err != nil || ip == "" {
		t.Fatalf("the peer's address: %q %v", ip, err)
	}
	return ip
}

// reach is kernel code that prints whether the sandbox reaches ip:8000.
func reach(ip string) string {
	return fmt.Sprintf(`import socket
try:
    socket.create_connection((%q, 8000), timeout=5).close(); print("reached")
except OSError as e:
    print("blocked")`, ip)
}

// TestHardenedByDefault: a default session has no new privileges, no
// capabilities, a pids limit and a large /dev/shm, and neither the Jupyter
// token nor a --secret value is in `docker inspect`, while the kernel has
// the secret.
func TestHardenedByDefault(t *testing.T) {
	c := newCLI(t, "docker")
	secret := "e2e-secret-" + randHex(t)
	c.env = []string{"SENA_E2E_SECRET=" + secret}
	r := c.up("--image", testImage(t), "--secret", "SENA_E2E_SECRET")

	info, raw := inspect(t, r.SandboxID)
	for what, s := range map[string]string{"the Jupyter token": tokenOf(t, r), "the secret": secret} {
		if strings.Contains(raw, s) {
			t.Errorf("docker inspect shows %s", what)
		}
	}
	h := info.HostConfig
	if !slices.Contains(h.SecurityOpt, "no-new-privileges:true") || !slices.Equal(h.CapDrop, []string{"ALL"}) || h.PidsLimit == nil || *h.PidsLimit != 16384 || h.ShmSize != 8192<<20 {
		t.Errorf("host config: security %q, cap_drop %q, pids %v, shm %d; want the hardening defaults", h.SecurityOpt, h.CapDrop, h.PidsLimit, h.ShmSize)
	}
	if !slices.Contains(info.Config.Env, "NVIDIA_VISIBLE_DEVICES=void") {
		t.Errorf("a CPU session's env %q lacks NVIDIA_VISIBLE_DEVICES=void", info.Config.Env)
	}

	code := `import os
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
v = os.statvfs("/dev/shm")
print(os.environ.get("SENA_E2E_SECRET"), st["NoNewPrivs"].strip(), st["CapEff"].strip(), v.f_blocks * v.f_frsize >> 20)`
	want := secret + " 1 0000000000000000 8192"
	if out := strings.TrimSpace(c.ok("exec", r.SessionID, code)); out != want {
		t.Errorf("in the kernel: %q, want %q (secret, no new privileges, no capabilities, /dev/shm MiB)", out, want)
	}
	if out := strings.TrimSpace(c.ok("exec", r.SessionID, reach(peer(t)))); out != "reached" {
		t.Errorf("default network: a container beyond the sandbox is %s, want reached", out)
	}
	c.ok("down", r.SessionID)
	assertGone(t, r)
}

// TestHardeningOptions: each default gives way to its provider option, and
// network=none leaves the sandbox without a route out while sena still
// drives its kernel.
func TestHardeningOptions(t *testing.T) {
	c := newCLI(t, "docker")
	r := c.up("--image", testImage(t),
		"--provider-option", "no_new_privileges=false", "--provider-option", "cap_drop=",
		"--provider-option", "cap_add=SYS_PTRACE", "--provider-option", "pids_limit=0",
		"--provider-option", "shm_mib=128", "--provider-option", "network=none")
	info, _ := inspect(t, r.SandboxID)
	h := info.HostConfig
	if len(h.SecurityOpt) != 0 || len(h.CapDrop) != 0 || !(slices.Equal(h.CapAdd, []string{"SYS_PTRACE"}) || slices.Equal(h.CapAdd, []string{"CAP_SYS_PTRACE"})) || (h.PidsLimit != nil && *h.PidsLimit > 0) || h.ShmSize != 128<<20 {
		t.Errorf("host config: security %q, cap_drop %q, cap_add %q, pids %v, shm %d; want the options' values", h.SecurityOpt, h.CapDrop, h.CapAdd, h.PidsLimit, h.ShmSize)
	}
	if want := "sena-" + r.SessionID + "-internal"; string(h.NetworkMode) != want || len(h.PortBindings) != 0 {
		t.Errorf("network mode %q, ports %v; want %s and nothing published", h.NetworkMode, h.PortBindings, want)
	}
	code := `import os
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
v = os.statvfs("/dev/shm")
print(st["NoNewPrivs"].strip(), v.f_blocks * v.f_frsize >> 20)`
	if out := strings.TrimSpace(c.ok("exec", r.SessionID, code)); out != "0 128" {
		t.Errorf("in the kernel: %q, want new privileges allowed and a 128 MiB /dev/shm", out)
	}
	if out := strings.TrimSpace(c.ok("exec", r.SessionID, reach(peer(t)))); out != "blocked" {
		t.Errorf("network=none: a container beyond the sandbox is %s, want blocked", out)
	}
	c.ok("down", r.SessionID)
	assertGone(t, r)
}

// dockerCLI runs the docker CLI with env added (a test's own DOCKER_CONFIG).
func dockerCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDockerContexts: sena finds the engine as the docker CLI does, from
// DOCKER_CONTEXT, from `docker context use`, and through an ssh:// context.
// The contexts live in the test's own DOCKER_CONFIG.
func TestDockerContexts(t *testing.T) {
	c := newCLI(t, "docker")
	cfg := t.TempDir()
	dead := filepath.Join(t.TempDir(), "dead.sock")
	env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST=", "DOCKER_CONTEXT="}
	dockerCLI(t, env, "context", "create", "sena-e2e-dead", "--docker", "host=unix://"+dead)
	dockerCLI(t, env, "context", "create", "sena-e2e-ssh", "--docker", "host=ssh://sena-e2e@engine.sena.invalid:2222")

	// DOCKER_CONTEXT names a context whose engine is down: ls says so.
	c.env = append(slices.Clone(env), "DOCKER_CONTEXT=sena-e2e-dead")
	_, errOut, code := c.run("ls")
	if code == 0 || !strings.Contains(errOut, dead) || !strings.Contains(errOut, "Docker context sena-e2e-dead") {
		t.Errorf("ls with DOCKER_CONTEXT=sena-e2e-dead: exit %d, stderr %q; want a failure naming the context's engine", code, errOut)
	}
	// `docker context use` chose it: the same, with no DOCKER_CONTEXT.
	dockerCLI(t, env, "context", "use", "sena-e2e-dead")
	c.env = env
	if _, errOut, code := c.run("ls"); code == 0 || !strings.Contains(errOut, "Docker context sena-e2e-dead") {
		t.Errorf("ls after `docker context use sena-e2e-dead`: exit %d, stderr %q", code, errOut)
	}

	// An ssh:// context: sena runs `ssh ... HOST docker system dial-stdio`.
	// This ssh runs the command here, against the local engine.
	bin := t.TempDir()
	log := filepath.Join(bin, "ssh.log")
	fakeSSH := "#!/bin/sh\necho \"$@\" >> " + log + "\nwhile [ \"$1\" != -- ]; do shift; done\nshift 2\nexec env -u DOCKER_CONFIG DOCKER_CONTEXT=default \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(fakeSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	c.env = append(slices.Clone(env), "DOCKER_CONTEXT=sena-e2e-ssh", "PATH="+bin+":"+os.Getenv("PATH"))
	r := c.up("--image", testImage(t))
	if out := strings.TrimSpace(c.ok("exec", r.SessionID, "print(6*7)")); out != "42" {
		t.Errorf("exec through the ssh context = %q, want 42", out)
	}
	c.ok("down", r.SessionID)
	logged, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("ssh was never run: %v", err)
	}
	if !strings.Contains(string(logged), "-l sena-e2e -p 2222") || !strings.Contains(string(logged), "-- engine.sena.invalid docker system dial-stdio") {
		t.Errorf("ssh ran with %q; want the context's user, port, host and dial-stdio", logged)
	}
	assertGone(t, r)
}

// TestEngineDownOrHung: with sessions recorded on an engine that is down,
// or that accepts connections and never answers, ls and gc say so and exit
// non-zero instead of showing the sessions unknown and finding nothing to
// remove. Without sessions, a plain ls stays quiet; --provider docker fails.
func TestEngineDownOrHung(t *testing.T) {
	c := newCLI(t, "docker")
	r := c.up("--image", testImage(t))

	c.env = []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "down.sock"), "DOCKER_CONTEXT="}
	out, errOut, code := c.run("ls")
	if code == 0 || !strings.Contains(errOut, "cannot reach provider docker") || !strings.Contains(errOut, "is dockerd running?") || !strings.Contains(out, r.SessionID) {
		t.Errorf("ls on a down engine: exit %d\nstdout %s\nstderr %s\nwant the session listed and a failure saying the engine is down", code, out, errOut)
	}
	out, errOut, code = c.run("gc")
	if code == 0 || strings.Contains(out, "nothing to remove") || !strings.Contains(errOut, "cannot reach") {
		t.Errorf("gc on a down engine: exit %d, stdout %q, stderr %q; want a failure, not nothing to remove", code, out, errOut)
	}

	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // never answer
		}
	}()
	c.env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONTEXT=", "SENA_DOCKER_TIMEOUT=1s"}
	start := time.Now()
	_, errOut, code = c.run("ls")
	if code == 0 || !strings.Contains(errOut, "did not answer in time") {
		t.Errorf("ls on a hung engine: exit %d, stderr %q; want a failure saying it did not answer", code, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("ls on a hung engine took %s with a 1s timeout", d)
	}

	empty := newCLI(t, "docker")
	empty.env = []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "down.sock"), "DOCKER_CONTEXT="}
	if out, errOut, code := empty.run("ls"); code == 0 {
		t.Errorf("--provider docker ls on a down engine: exit 0 (%s %s), want a failure", out, errOut)
	}
	// No --provider, no session on docker: a docker that is down is not
	// this user's concern, and ls succeeds.
	plain := exec.CommandContext(t.Context(), senaBin, "--state-dir", empty.stateDir, "--plugin-dir", pluginDir, "ls")
	plain.Env = append(os.Environ(), empty.env...)
	if out, err := plain.CombinedOutput(); err != nil {
		t.Errorf("ls with docker down and no docker sessions: %v\n%s", err, out)
	}

	c.env = nil
	c.ok("down", r.SessionID)
}

// cellStopped runs a cell that sleeps, stops the sandbox with stop once the
// cell has started, and returns exec's stderr and the notebook's last cell.
func cellStopped(t *testing.T, c *cli, r upResult, stop func()) (string, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := c.command(ctx, "exec", r.SessionID, "import time; print('cell started', flush=True); time.sleep(600)")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "cell started") {
	}
	stop()
	for sc.Scan() {
	}
	if err := cmd.Wait(); err == nil {
		t.Errorf("exec of a cell whose sandbox stopped exited 0")
	}
	var nb struct {
		Cells []map[string]any `json:"cells"`
	}
	if err := json.Unmarshal([]byte(c.ok("notebook", "-o", "-", r.SessionID)), &nb); err != nil || len(nb.Cells) == 0 {
		t.Fatalf("notebook: %v", err)
	}
	return stderr.String(), nb.Cells[len(nb.Cells)-1]
}

// lastError is the ename and evalue of a cell's last error output.
func lastError(cell map[string]any) (string, string) {
	outs, _ := cell["outputs"].([]any)
	for i := len(outs) - 1; i >= 0; i-- {
		o, _ := outs[i].(map[string]any)
		if o["output_type"] == "error" {
			ename, _ := o["ename"].(string)
			evalue, _ := o["evalue"].(string)
			return ename, evalue
		}
	}
	return "", ""
}

// lsStatus is the status `sena ls` shows for the session, reason included.
func lsStatus(t *testing.T, c *cli, id string) (string, string) {
	var rows []struct {
		ID     string `json:"session_id"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(c.ok("--json", "ls")), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == id {
			return r.Status, r.Reason
		}
	}
	return "", ""
}

// TestCellCutShort: a cell running when its container is killed, or when
// the sandbox's timeout ends it, gets an error output saying what stopped
// it, and `sena ls` shows the reason.
func TestCellCutShort(t *testing.T) {
	t.Run("Killed", func(t *testing.T) {
		c := newCLI(t, "docker")
		r := c.up("--image", testImage(t))
		errOut, cell := cellStopped(t, c, r, func() {
			if out, err := exec.Command("docker", "kill", r.SandboxID).CombinedOutput(); err != nil {
				t.Errorf("docker kill: %v %s", err, out)
			}
		})
		ename, evalue := lastError(cell)
		if ename != "SandboxStopped" || !strings.Contains(evalue, "killed (exit 137") {
			t.Errorf("the cell's last error: %s: %s; want SandboxStopped, killed (exit 137)", ename, evalue)
		}
		if !strings.Contains(errOut, "the sandbox stopped while this cell ran: killed") {
			t.Errorf("exec's stderr %q: want what stopped the cell", errOut)
		}
		if st, why := lsStatus(t, c, r.SessionID); st != "stopped" || !strings.Contains(why, "killed") {
			t.Errorf("ls: %s (%s), want stopped (killed ...)", st, why)
		}
		c.ok("down", r.SessionID)
	})
	t.Run("Timeout", func(t *testing.T) {
		c := newCLI(t, "docker")
		r := c.up("--image", testImage(t), "--timeout", "40s")
		_, cell := cellStopped(t, c, r, func() {})
		ename, evalue := lastError(cell)
		if ename != "SandboxStopped" || !strings.Contains(evalue, "its timeout (40s) ran out") {
			t.Errorf("the cell's last error: %s: %s; want SandboxStopped, its timeout (40s) ran out", ename, evalue)
		}
		if st, why := lsStatus(t, c, r.SessionID); st != "stopped" || !strings.Contains(why, "timeout (40s)") {
			t.Errorf("ls: %s (%s), want stopped (its timeout ...)", st, why)
		}
		c.ok("down", r.SessionID)
	})
}

// TestGCImages: `sena gc --images --dry-run` lists the derived image a
// session built, with its size and its user; `sena gc --images` keeps an
// image in use and one just built. (The provider's own test removes
// unused ones: here the engine is shared with other tests.)
func TestGCImages(t *testing.T) {
	c := newCLI(t, "docker")
	// A requirement the test image satisfies offline, unique to this test.
	pkg := fmt.Sprintf("numpy>=0.0.%d", time.Now().UnixNano()%1e9)
	r := c.up("--image", testImage(t), "--package", pkg)
	var rep struct {
		Images []struct {
			Ref      string   `json:"ref"`
			Packages string   `json:"packages"`
			Size     int64    `json:"size"`
			InUse    []string `json:"in_use"`
			Removed  bool     `json:"removed"`
		} `json:"images"`
	}
	find := func(out string) (ref string, size int64, inUse []string, removed bool) {
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("gc --images --json: %v\n%s", err, out)
		}
		for _, im := range rep.Images {
			if strings.Contains(im.Packages, pkg) {
				return im.Ref, im.Size, im.InUse, im.Removed
			}
		}
		t.Fatalf("gc --images does not list the image built for %s:\n%s", pkg, out)
		return
	}
	ref, size, inUse, _ := find(c.ok("--json", "gc", "--images", "--dry-run"))
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", ref).Run() }) // this test's own image
	if !strings.HasPrefix(ref, "sena-derived:") || size <= 0 || !slices.Contains(inUse, "sena-"+r.SessionID) {
		t.Errorf("dry run: %s, %d bytes, used by %q; want a sena-derived image in use by the session", ref, size, inUse)
	}
	if _, _, _, removed := find(c.ok("--json", "gc", "--images")); removed {
		t.Errorf("gc --images removed %s, which a session runs", ref)
	}
	c.ok("down", r.SessionID)
	if _, _, _, removed := find(c.ok("--json", "gc", "--images")); removed {
		t.Errorf("gc --images removed %s, built minutes ago", ref)
	}
	if out := c.ok("gc", "--images", "--dry-run"); !strings.Contains(out, "derived images;") {
		t.Errorf("gc --images --dry-run prints no summary:\n%s", out)
	}
}
