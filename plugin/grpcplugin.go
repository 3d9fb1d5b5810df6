package plugin

import (
	"context"
	"errors"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// ProviderPlugin is the go-plugin glue for sena.provider.v1. Serve and Launch
// build it; tests use it with goplugin.TestPluginGRPCConn (see plugintest).
type ProviderPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the provider served (plugin side).
	Impl core.Provider
	// Name and Path name the plugin in the host's error messages (host side).
	Name, Path string

	stderr *stderrTail // the plugin's stderr, when the host launched it
}

var _ goplugin.GRPCPlugin = (*ProviderPlugin)(nil)

// GRPCServer registers Impl on the plugin's gRPC server.
func (p *ProviderPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("plugin: ProviderPlugin.Impl is nil; pass a provider to plugin.Serve")
	}
	pb.RegisterProviderServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a *Client on the host. done is cancelled by go-plugin
// when the plugin process exits.
func (p *ProviderPlugin) GRPCClient(done context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	stderr := p.stderr
	if stderr == nil {
		stderr = newStderrTail()
	}
	return &Client{
		rpc:    pb.NewProviderClient(conn),
		name:   p.Name,
		path:   p.Path,
		done:   done,
		stderr: stderr,
	}, nil
}
