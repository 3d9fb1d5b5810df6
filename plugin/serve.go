package plugin

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/sena-labs/sena/core"
)

// Serve is the whole main of a provider plugin binary:
//
//	func main() { plugin.Serve(docker.New) }
//
// It builds the provider with a logger that writes to stderr (stdout carries
// the handshake, so a plugin must never print there) and serves it over
// gRPC until the host closes it. Run by hand, it explains that sena starts it
// and exits.
func Serve(f core.Factory) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a Sena provider plugin: sena starts it, it is not run by hand.\n"+
			"Put it in %s (or a directory named by SENA_PLUGIN_DIR) and run sena --provider NAME.\n",
			filepath.Base(os.Args[0]), DefaultDir())
		os.Exit(1)
	}
	logger := pluginLogger(os.Stderr)
	p, err := f(logger)
	if err != nil {
		// The host shows the plugin's last stderr lines when it fails to start.
		logger.Error("cannot start provider: " + err.Error())
		os.Exit(1)
	}
	go exitWithHost(logger)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(&ProviderPlugin{Impl: p}),
		GRPCServer:       goplugin.DefaultGRPCServer,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: os.Stderr, JSONFormat: true}),
	})
}

// exitWithHost stops the plugin when the host process is gone (the plugin is
// reparented), so a host killed without Close leaves no plugin behind.
func exitWithHost(logger *slog.Logger) {
	host := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != host {
			logger.Warn("sena exited without stopping this plugin; exiting")
			os.Exit(1)
		}
	}
}
