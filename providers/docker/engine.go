package docker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
)

// Engine call timeouts, as multiples of the base (30s, or SENA_DOCKER_TIMEOUT):
// no call to the engine waits forever on a hung daemon.
const (
	timeoutQuick  = 1 // inspect, list, info, logs
	timeoutStop   = 2 // stop and remove
	timeoutCreate = 4 // create, start, exec, copy
	// buildIdle bounds the silence between two messages of a build or pull
	// stream; the stream itself may run for as long as it makes progress.
	buildIdle = 20
)

// EnvTimeout overrides the base engine timeout (a Go duration, as 10s).
const EnvTimeout = "SENA_DOCKER_TIMEOUT"

const defaultTimeout = 30 * time.Second

// endpoint is the engine Sena talks to, resolved as the docker CLI does.
type endpoint struct {
	Context string // the Docker context's name; "" for DOCKER_HOST or the default socket
	Host    string // unix:///var/run/docker.sock, tcp://..., ssh://user@host
	CA      []byte // TLS material of a context (PEM)
	Cert    []byte
	Key     []byte
	// SkipTLSVerify is the context's setting.
	SkipTLSVerify bool
}

// where names the engine in messages.
func (e endpoint) where() string {
	if e.Context != "" {
		return fmt.Sprintf("%s (Docker context %s)", e.Host, e.Context)
	}
	return e.Host
}

// resolveEndpoint finds the engine as the docker CLI does
// (cli/command/cli.go, resolveContextName): DOCKER_HOST wins and means the
// default context; then DOCKER_CONTEXT; then the currentContext that `docker
// context use` wrote to config.json in DOCKER_CONFIG (default ~/.docker).
// "default" and no context at all mean DOCKER_HOST or the local socket, which
// the moby client reads itself (host == "").
func resolveEndpoint(getenv func(string) string) (endpoint, error) {
	if getenv("DOCKER_HOST") != "" {
		return endpoint{Host: getenv("DOCKER_HOST")}, nil
	}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return endpoint{}, nil // no config dir: the default socket
		}
		dir = filepath.Join(home, ".docker")
	}
	name := getenv("DOCKER_CONTEXT")
	if name == "" {
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return endpoint{}, core.Errorf(core.ErrInvalidConfig, "read the Docker config %s: %v", filepath.Join(dir, "config.json"), err)
		}
		if err == nil {
			var cfg struct {
				CurrentContext string `json:"currentContext"`
			}
			if err := json.Unmarshal(data, &cfg); err != nil {
				return endpoint{}, core.Errorf(core.ErrInvalidConfig, "the Docker config %s is not JSON: %v", filepath.Join(dir, "config.json"), err)
			}
			name = cfg.CurrentContext
		}
	}
	if name == "" || name == "default" {
		return endpoint{}, nil
	}
	return loadContext(dir, name)
}

// loadContext reads a context from the docker CLI's store: its metadata in
// contexts/meta/<sha256 of the name>/meta.json, its TLS files under
// contexts/tls/<same>/docker/.
func loadContext(configDir, name string) (endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	data, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return endpoint{}, core.Errorf(core.ErrInvalidConfig, "Docker context %q does not exist (no %s): `docker context ls` lists the contexts; `docker context use default` or unset DOCKER_CONTEXT for the local engine", name, metaPath)
	}
	if err != nil {
		return endpoint{}, core.Errorf(core.ErrInvalidConfig, "read Docker context %q: %v", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string `json:"Host"`
			SkipTLSVerify bool   `json:"SkipTLSVerify"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return endpoint{}, core.Errorf(core.ErrInvalidConfig, "Docker context %q: %s is not JSON: %v", name, metaPath, err)
	}
	ep, ok := meta.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return endpoint{}, core.Errorf(core.ErrInvalidConfig, "Docker context %q has no docker endpoint", name)
	}
	e := endpoint{Context: name, Host: ep.Host, SkipTLSVerify: ep.SkipTLSVerify}
	tlsDir := filepath.Join(configDir, "contexts", "tls", id, "docker")
	for file, into := range map[string]*[]byte{"ca.pem": &e.CA, "cert.pem": &e.Cert, "key.pem": &e.Key} {
		b, err := os.ReadFile(filepath.Join(tlsDir, file))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return endpoint{}, core.Errorf(core.ErrInvalidConfig, "Docker context %q: %v", name, err)
		}
		*into = b
	}
	return e, nil
}

// clientOptions turn an endpoint into moby client options, as the docker
// CLI's Endpoint.ClientOpts does: ssh:// through `ssh HOST docker system
// dial-stdio`, TLS from the context's files for tcp://.
func (e endpoint) clientOptions() ([]client.Opt, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if e.Host == "" {
		return opts, nil
	}
	u, err := url.Parse(e.Host)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "Docker host %q: %v", e.Host, err)
	}
	if u.Scheme == "ssh" {
		args, err := sshArgs(u)
		if err != nil {
			return nil, err
		}
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return newCommandConn(ctx, "ssh", args...) }
		// Not FromEnv: its TLS settings and host are for a tcp:// engine.
		return append([]client.Opt{client.WithAPIVersionNegotiation(), client.WithVersionFromEnv()},
			client.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: dial}}),
			client.WithHost("http://docker.example.com"), // any host: the dialer ignores it
			client.WithDialContext(dial),
		), nil
	}
	if e.Context != "" && u.Scheme != "unix" && u.Scheme != "npipe" && (e.CA != nil || e.Cert != nil || e.SkipTLSVerify) {
		cfg := &tls.Config{InsecureSkipVerify: e.SkipTLSVerify}
		if e.CA != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(e.CA) {
				return nil, core.Errorf(core.ErrInvalidConfig, "Docker context %q: its ca.pem holds no certificate", e.Context)
			}
			cfg.RootCAs = pool
		}
		if e.Cert != nil && e.Key != nil {
			pair, err := tls.X509KeyPair(e.Cert, e.Key)
			if err != nil {
				return nil, core.Errorf(core.ErrInvalidConfig, "Docker context %q: its TLS key pair: %v", e.Context, err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext:     (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		}, CheckRedirect: client.CheckRedirect}))
	}
	return append(opts, client.WithHost(e.Host)), nil
}

// sshArgs are ssh's arguments for a dial-stdio connection to an
// ssh://[user@]host[:port][/socket] engine, as the docker CLI's connhelper
// builds them.
func sshArgs(u *url.URL) ([]string, error) {
	if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
		return nil, core.Errorf(core.ErrInvalidConfig, "Docker host %q: no valid host", u.String())
	}
	var args []string
	if u.User != nil && u.User.Username() != "" {
		args = append(args, "-l", u.User.Username())
	}
	if u.Port() != "" {
		args = append(args, "-p", u.Port())
	}
	args = append(args, "-o", "ConnectTimeout=30", "-T", "--", u.Hostname(), "docker")
	if p := strings.Trim(u.Path, "/"); p != "" {
		args = append(args, "--host=unix:///"+p)
	}
	return append(args, "system", "dial-stdio"), nil
}

// commandConn is a net.Conn over a command's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	once   sync.Once
}

// The connection outlives the dial's ctx, so the command is not bound to it.
func newCommandConn(_ context.Context, name string, args ...string) (net.Conn, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &commandConn{cmd: cmd, stdin: stdin, stdout: stdout}, nil
}

func (c *commandConn) Read(b []byte) (int, error)  { return c.stdout.Read(b) }
func (c *commandConn) Write(b []byte) (int, error) { return c.stdin.Write(b) }
func (c *commandConn) Close() error {
	c.once.Do(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return nil
}
func (c *commandConn) LocalAddr() net.Addr              { return dummyAddr{} }
func (c *commandConn) RemoteAddr() net.Addr             { return dummyAddr{} }
func (c *commandConn) SetDeadline(time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(time.Time) error { return nil }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "stdio" }
func (dummyAddr) String() string  { return "stdio" }

// baseTimeout reads SENA_DOCKER_TIMEOUT.
func baseTimeout(getenv func(string) string) (time.Duration, error) {
	s := getenv(EnvTimeout)
	if s == "" {
		return defaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, core.Errorf(core.ErrInvalidConfig, "%s=%q: want a positive duration, as 30s", EnvTimeout, s)
	}
	return d, nil
}

// call bounds one engine call: n times the base timeout.
func (p *Provider) call(ctx context.Context, n int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(n)*p.timeout)
}
