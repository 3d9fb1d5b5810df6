package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/sena-labs/sena/core"
)

// DefaultStartTimeout bounds the handshake when LaunchOptions leaves it unset.
const DefaultStartTimeout = 10 * time.Second

// LaunchOptions tune Launch. The zero value is usable.
type LaunchOptions struct {
	// Name names the plugin in messages; default: the file name without
	// the sena-provider- prefix.
	Name string
	// Logger receives the plugin's stderr, at the level the plugin logged
	// it, and go-plugin's own events. Nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds the wait for the handshake (default
	// DefaultStartTimeout); a binary that is not a Sena plugin fails within it.
	StartTimeout time.Duration
	// PassEnv names host environment variables the plugin receives beyond
	// the minimal environment every plugin gets (see pluginEnv).
	PassEnv []string
}

// Launch starts the plugin binary at path and connects to it over gRPC with
// mutual TLS. ctx bounds the start only; the plugin runs until Close. The
// plugin starts with a minimal environment, not the host's: credentials it
// needs (DOCKER_HOST, MODAL_TOKEN_ID, ...) are named in opts.PassEnv or in
// SENA_PLUGIN_ENV. It does not share the host's stdin. Every failure wraps
// core.ErrPluginFailed and names the path.
func Launch(ctx context.Context, path string, opts *LaunchOptions) (*Client, error) {
	if opts == nil {
		opts = &LaunchOptions{}
	}
	name := opts.Name
	if name == "" {
		name = strings.TrimPrefix(filepath.Base(path), FilePrefix)
	}
	if err := checkExecutable(path); err != nil {
		return nil, core.Errorf(core.ErrPluginFailed, "provider plugin %s: %v", name, err)
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	tail := newStderrTail()
	gp := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		SkipHostEnv:      true,
		VersionedPlugins: pluginSets(&ProviderPlugin{Name: name, Path: path, stderr: tail}),
		RunnerFunc:       newRunner(path, pluginEnv(opts.PassEnv)),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     timeout,
		Stderr:           tail,
		Logger:           hostLogger(opts.Logger),
	})

	started := make(chan error, 1)
	var client *Client
	go func() {
		var err error
		client, err = dispense(gp)
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			gp.Kill() // also waits until the plugin's stderr is read to the end
			return nil, startError(name, path, timeout, err, tail)
		}
	case <-ctx.Done():
		go func() { <-started; gp.Kill() }()
		return nil, &failure{msg: fmt.Sprintf("provider plugin %s (%s) did not start: %v", name, path, ctx.Err()), cause: ctx.Err()}
	}
	client.process = gp
	return client, nil
}

func dispense(gp *goplugin.Client) (*Client, error) {
	proto, err := gp.Client()
	if err != nil {
		return nil, err
	}
	raw, err := proto.Dispense(PluginName)
	if err != nil {
		return nil, err
	}
	c, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("dispensed %T, want *plugin.Client", raw)
	}
	return c, nil
}

// startError explains a failed handshake: the usual cause is a binary that is
// not a Sena plugin, or one built for another protocol version.
func startError(name, path string, timeout time.Duration, err error, tail *stderrTail) error {
	reason := err.Error()
	switch {
	case strings.Contains(reason, "timeout while waiting for plugin to start"):
		reason = fmt.Sprintf("it did not complete the handshake within %s", timeout)
	case strings.Contains(reason, "plugin exited before we could connect"),
		strings.Contains(reason, "Failed to read any lines from plugin's stdout"):
		reason = "it exited before the handshake"
	default:
		reason = strings.TrimSpace(strings.ReplaceAll(reason, "\n", " "))
	}
	return core.Errorf(core.ErrPluginFailed,
		"provider plugin %s (%s) is not a working Sena provider plugin: %s; "+
			"plugins are built with plugin.Serve from github.com/sena-labs/sena (protocol %d)%s",
		name, path, reason, ProtocolVersion, tail.summary())
}

// checkExecutable catches the common mistakes before a process is started.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist", path)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a plugin binary", path)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not executable; run chmod +x %s", path, path)
	}
	return nil
}
