package slurm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sena-labs/sena/core"
)

// When the nodes are not reachable from this host, Sena reaches Jupyter
// through an SSH tunnel via a login host that can: a small process on this
// host (this same binary, started with tunnelEnv set) listens on a local
// port and forwards each connection over SSH to the node. It outlives the
// plugin, so `sena exec`, the MCP server and a browser reach the sandbox
// later, and stops by itself when the job ends or its directory is removed.

// tunnelEnv carries the tunnel's spec (JSON) to the tunnel process.
const tunnelEnv = "SENA_SLURM_TUNNEL"

// loginHost is where SSH goes: user, host:port, and the known_hosts file.
type loginHost struct {
	user, addr, knownHosts string
}

// parseLoginHost reads [user@]host[:port].
func parseLoginHost(s, knownHosts string) (*loginHost, error) {
	l := &loginHost{knownHosts: knownHosts}
	hostPort := s
	if u, h, ok := strings.Cut(s, "@"); ok {
		l.user, hostPort = u, h
	}
	if l.user == "" {
		if u, err := user.Current(); err == nil {
			l.user = u.Username
		}
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		hostPort = net.JoinHostPort(hostPort, "22")
	}
	host, _, _ := net.SplitHostPort(hostPort)
	if host == "" || l.user == "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: login_host %q: write it as [user@]host[:port]", s)
	}
	l.addr = hostPort
	return l, nil
}

func (l *loginHost) spec() string { return l.user + "@" + l.addr }

// dial connects and authenticates with the user's SSH agent, trusting the
// host only as known_hosts says.
func (l *loginHost) dial(ctx context.Context) (*ssh.Client, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: login_host %s needs your SSH agent, but SSH_AUTH_SOCK is not set for the plugin: "+
			"plugins get no credentials unless named, so add --provider-option pass_env=SSH_AUTH_SOCK (or SENA_PLUGIN_ENV=SSH_AUTH_SOCK)", l.addr)
	}
	hostKeys, err := knownhosts.New(l.knownHosts)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: login_host %s: read known_hosts %s: %v (ssh to it once, or set known_hosts)", l.addr, l.knownHosts, err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, core.Errorf(core.ErrUnavailable, "slurm: the SSH agent at SSH_AUTH_SOCK=%s does not answer: %v", sock, err)
	}
	defer conn.Close()
	ag := agent.NewClient(conn)
	cfg := &ssh.ClientConfig{
		User:            l.user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeysCallback(ag.Signers)},
		HostKeyCallback: hostKeys,
		Timeout:         15 * time.Second,
	}
	c, err := dialSSH(ctx, l.addr, cfg)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) && len(ke.Want) > 0 {
		// The host offered a key type known_hosts does not hold for it:
		// ask for the types it does, as OpenSSH's client does.
		for _, k := range ke.Want {
			cfg.HostKeyAlgorithms = append(cfg.HostKeyAlgorithms, algorithmsFor(k.Key.Type())...)
		}
		c, err = dialSSH(ctx, l.addr, cfg)
	}
	if errors.As(err, &ke) {
		if len(ke.Want) == 0 {
			return nil, core.Errorf(core.ErrInvalidConfig, "slurm: login_host %s is not in %s: ssh to it once to check and record its key", l.addr, l.knownHosts)
		}
		return nil, core.Errorf(core.ErrInvalidConfig, "slurm: login_host %s offered a host key that %s does not vouch for (changed, or someone in between): check with your admins", l.addr, l.knownHosts)
	}
	if err != nil {
		return nil, core.Errorf(core.ErrUnavailable, "slurm: SSH to login_host %s as %s: %v", l.addr, l.user, err)
	}
	return c, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func dialSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// check logs in once, before anything is submitted.
func (l *loginHost) check(ctx context.Context) error {
	c, err := l.dial(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// tunnelSpec is what the tunnel process is told.
type tunnelSpec struct {
	Login      string `json:"login"` // user@host:port
	KnownHosts string `json:"known_hosts"`
	Target     string `json:"target"` // the node's address and port, as the login host dials them
	Port       int    `json:"port"`   // local port; 0 picks one
	JobID      string `json:"job_id"`
	Dir        string `json:"dir"`
}

// startTunnel starts the tunnel process for st and records its local port
// in st. It returns once the tunnel has logged in and listens.
func startTunnel(ctx context.Context, exe string, st *jobState, target string, port int) error {
	spec, _ := json.Marshal(tunnelSpec{Login: st.Login, KnownHosts: st.KnownHosts, Target: target, Port: port, JobID: st.JobID, Dir: st.Dir})
	logf, err := os.OpenFile(filepath.Join(st.Dir, "tunnel.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe)
	cmd.Env = []string{tunnelEnv + "=" + string(spec)}
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "SLURM_CONF", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the plugin and sena
	// A pipe of our own, not StdoutPipe: Wait would close that one as soon
	// as a tunnel that failed exits, before its one line is read.
	out, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("slurm: start the SSH tunnel (%s): %w", exe, err)
	}
	go func() { _ = cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	var got string
	select {
	case got = <-line:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return ctx.Err()
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		return core.Errorf(core.ErrUnavailable, "slurm: the SSH tunnel through %s did not start within a minute (%s)", st.Login, filepath.Join(st.Dir, "tunnel.log"))
	}
	if p, ok := strings.CutPrefix(got, "listening "); ok {
		st.LocalPort, _ = strconv.Atoi(p)
		return nil
	}
	_ = cmd.Process.Kill()
	if got == "" {
		got = "it exited; " + filepath.Join(st.Dir, "tunnel.log") + " says why"
	}
	return core.Errorf(core.ErrUnavailable, "slurm: the SSH tunnel through %s to %s failed: %s", st.Login, target, strings.TrimPrefix(got, "error "))
}

// tunnelAlive is true when the tunnel process recorded in dir runs on this host.
func tunnelAlive(dir string) bool {
	_, pid, ok := tunnelPID(dir)
	return ok && syscall.Kill(pid, 0) == nil
}

// stopTunnel stops the tunnel process of a job, if it runs on this host.
func stopTunnel(dir string) {
	if _, pid, ok := tunnelPID(dir); ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
}

// tunnelPID reads the tunnel file: "HOST PID PORT", ok only when HOST is
// this host and the process is still that tunnel.
func tunnelPID(dir string) (string, int, bool) {
	data, err := os.ReadFile(filepath.Join(dir, tunnelFile))
	if err != nil {
		return "", 0, false
	}
	f := strings.Fields(string(data))
	host, _ := os.Hostname()
	if len(f) != 3 || f[0] != host {
		return "", 0, false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	// The pid may have been reused: only a process with the tunnel's spec
	// for this very job counts.
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || !strings.Contains(string(env), tunnelEnv+"=") || !strings.Contains(string(env), `"dir":"`+dir+`"`) {
		return "", 0, false
	}
	return f[0], pid, true
}

// ServeTunnel runs the SSH tunnel and exits when this process was started
// as one (by Create or Inspect, with tunnelEnv set); otherwise it returns at
// once. The plugin's main calls it before plugin.Serve.
func ServeTunnel() {
	raw := os.Getenv(tunnelEnv)
	if raw == "" {
		return
	}
	var spec tunnelSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Println("error bad tunnel spec:", err)
		os.Exit(2)
	}
	if err := runTunnel(spec); err != nil {
		fmt.Fprintln(os.Stderr, "sena slurm tunnel:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runTunnel(spec tunnelSpec) error {
	user, addr, _ := strings.Cut(spec.Login, "@")
	l := &loginHost{user: user, addr: addr, knownHosts: spec.KnownHosts}
	t := &tunnel{login: l, target: spec.Target}
	c, err := t.client()
	if err != nil {
		fmt.Println("error", err)
		return err
	}
	// The login host must reach the node, or the tunnel leads nowhere.
	probe, err := c.Dial("tcp", spec.Target)
	if err != nil {
		fmt.Printf("error the login host %s cannot reach %s: %v\n", l.addr, spec.Target, err)
		return err
	}
	probe.Close()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", spec.Port))
	if err != nil {
		fmt.Println("error listen on this host:", err)
		return err
	}
	host, _ := os.Hostname()
	port := ln.Addr().(*net.TCPAddr).Port
	rec := fmt.Sprintf("%s %d %d\n", host, os.Getpid(), port)
	if err := os.WriteFile(filepath.Join(spec.Dir, tunnelFile), []byte(rec), 0o600); err != nil {
		fmt.Println("error", err)
		return err
	}
	fmt.Printf("listening %d\n", port)
	os.Stdout.Close()
	go t.watch(spec, ln)
	for {
		c, err := ln.Accept()
		if err != nil {
			return nil // closed by watch: the job ended
		}
		go t.forward(c)
	}
}

// tunnel forwards local connections to the target through one SSH
// connection, made again when it breaks.
type tunnel struct {
	login  *loginHost
	target string
	mu     sync.Mutex
	c      *ssh.Client
}

func (t *tunnel) client() (*ssh.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c != nil {
		return t.c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := t.login.dial(ctx)
	if err != nil {
		return nil, err
	}
	t.c = c
	go func() { // keep NATs and firewalls from dropping an idle session
		for range time.Tick(30 * time.Second) {
			if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
				t.drop(c)
				return
			}
		}
	}()
	return c, nil
}

func (t *tunnel) drop(c *ssh.Client) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == c {
		t.c = nil
	}
	_ = c.Close()
}

func (t *tunnel) forward(local net.Conn) {
	defer local.Close()
	var remote net.Conn
	for attempt := 0; attempt < 2; attempt++ {
		c, err := t.client()
		if err != nil {
			fmt.Fprintln(os.Stderr, "sena slurm tunnel:", err)
			return
		}
		if remote, err = c.Dial("tcp", t.target); err == nil {
			break
		}
		fmt.Fprintln(os.Stderr, "sena slurm tunnel: dial", t.target, "through", t.login.addr, ":", err)
		t.drop(c) // a broken session: log in again once
	}
	if remote == nil {
		return
	}
	defer remote.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(remote, local); done <- struct{}{} }()
	go func() { _, _ = io.Copy(local, remote); done <- struct{}{} }()
	<-done
}

// watch closes the listener once the job has ended or its directory is
// gone (Destroy), so the tunnel never outlives its sandbox for long.
func (t *tunnel) watch(spec tunnelSpec, ln net.Listener) {
	for range time.Tick(5 * time.Second) {
		gone := !isJobDir(spec.Dir, filepath.Base(spec.Dir))
		if !gone {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			j, err := jobByID(ctx, spec.JobID)
			cancel()
			gone = err == nil && (j == nil || !active(j.State))
		}
		if gone {
			_ = ln.Close()
			return
		}
	}
}
