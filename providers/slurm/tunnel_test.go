package slurm

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loginHostForTest starts OpenSSH's sshd on loopback as the cluster's
// login host, with a key of its own, and an ssh-agent holding the user's
// key. It returns the login_host option, the known_hosts file that vouches
// for it, and SSH_AUTH_SOCK.
func loginHostForTest(t *testing.T) (login, knownHosts, agentSock string) {
	t.Helper()
	sshd := need(t, "/usr/sbin/sshd", "scripts/slurm-up installs openssh-server")
	keygen := need(t, "ssh-keygen", "apt-get install openssh-client")
	need(t, "ssh-agent", "apt-get install openssh-client")
	dir, err := os.MkdirTemp("", "sena-sshd-") // short: a unix socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for _, k := range []string{"host_key", "user_key"} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
`, port, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Getuid() == 0 {
		t.Fatal(err)
	}
	d := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	d.Stderr = &lockedBuffer{}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Process.Kill(); _ = d.Wait() })
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", port), d.Stderr.(*lockedBuffer))

	sock := filepath.Join(dir, "agent.sock")
	a := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Process.Kill(); _ = a.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	add := exec.Command("ssh-add", filepath.Join(dir, "user_key"))
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	known := filepath.Join(dir, "known_hosts")
	host := strings.Fields(string(hostPub))
	if err := os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, host[0], host[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("root@127.0.0.1:%d", port), known, sock
}

func waitPort(t *testing.T, addr string, log *lockedBuffer) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sshd does not listen on %s:\n%s", addr, log)
}

// Through a login host: the plugin gets the user's agent only because
// pass_env names it, logs in with it as known_hosts allows, and Sena's
// kernel traffic reaches the node through the tunnel process, which
// outlives the plugin and stops with the sandbox.
func TestTunnelThroughLoginHost(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	login, known, sock := loginHostForTest(t)
	c.env = append(c.env, "SSH_AUTH_SOCK="+sock)
	opts := []string{"--provider-option", "login_host=" + login, "--provider-option", "known_hosts=" + known}

	// Without pass_env the plugin has no agent, and says how to give it one.
	if r := c.run(c.upArgs(opts...)...); r.code == 0 || !strings.Contains(r.stderr, "pass_env=SSH_AUTH_SOCK") {
		t.Errorf("up with a login host and no pass_env: exit %d, %q", r.code, r.stderr)
	}
	// A login host that known_hosts does not vouch for is refused before
	// anything is submitted.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	if r := c.run(c.upArgs("--provider-option", "login_host="+login, "--provider-option", "known_hosts="+empty, "--provider-option", "pass_env=SSH_AUTH_SOCK")...); r.code == 0 || !strings.Contains(r.stderr, "is not in "+empty) {
		t.Errorf("up with an unknown login host key: exit %d, %q", r.code, r.stderr)
	}
	c.assertNoJobs()
	opts = append(opts, "--provider-option", "pass_env=SSH_AUTH_SOCK")
	// A node the login host cannot reach either: the job is cancelled.
	if r := c.run(c.upArgs(append(opts, "--provider-option", "node_address={node}.invalid")...)...); r.code == 0 || !strings.Contains(r.stderr, "the login host 127.0.0.1") || !strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("up with a node the login host cannot reach: exit %d, %q", r.code, r.stderr)
	}
	c.assertNoJobs()

	u := c.up(opts...)
	j := sessionJob(t, u.SessionID)
	dir := filepath.Dir(j.WorkDir)
	_, jobPort, _ := readEndpoint(dir)
	ju, err := url.Parse(u.JupyterURL)
	if err != nil {
		t.Fatal(err)
	}
	if ju.Hostname() != "127.0.0.1" || ju.Port() == strconv.Itoa(jobPort) {
		t.Errorf("Jupyter URL %s: want the tunnel's local port on 127.0.0.1, not the job's port %d", u.JupyterURL, jobPort)
	}
	// Reached at 127.0.0.1, the server keeps its Host check: a page that
	// rebinds a name to this host is refused, token or not.
	for host, want := range map[string]int{"": http.StatusOK, "rebound.example": http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodGet, u.JupyterURL, nil) // the token is in its query
		req.URL.Path = "/api/status"
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != want {
			t.Errorf("GET /api/status through the tunnel, Host %q: %v %v, want %d", host, resp, err, want)
			continue
		}
		resp.Body.Close()
	}
	_, pid, ok := tunnelPID(dir)
	if !ok {
		t.Fatalf("no tunnel process recorded in %s", dir)
	}
	if r := c.ok("exec", u.SessionID, "import os; print(os.environ['SLURM_JOB_ID'])"); strings.TrimSpace(r.stdout) != j.ID {
		t.Errorf("exec through the tunnel printed %q, want the job id %s", r.stdout, j.ID)
	}
	// A tunnel that died while the job runs (a reboot of this host) comes
	// back on the same port when sena next looks at the session.
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 50 && tunnelAlive(dir); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if r := c.row(u.SessionID); r.Status != "running" || r.Reason != "" {
		t.Errorf("ls after the tunnel died: %+v, want running", r)
	}
	if _, pid, ok = tunnelPID(dir); !ok {
		t.Fatalf("ls did not bring the tunnel back")
	}
	if r := c.ok("exec", u.SessionID, "print(6 * 7)"); strings.TrimSpace(r.stdout) != "42" {
		t.Errorf("exec through the tunnel brought back printed %q", r.stdout)
	}
	c.ok("down", u.SessionID)
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the tunnel process %d outlived its sandbox", pid)
	}
}
