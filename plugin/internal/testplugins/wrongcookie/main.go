// Command wrongcookie is a go-plugin plugin of some other application: its
// handshake cookie is not Sena's, so it refuses to start under Sena.
package main

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/internal/fakeprovider"
)

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  plugin.ProtocolVersion,
			MagicCookieKey:   "OTHER_APP_PLUGIN_COOKIE",
			MagicCookieValue: "not-sena",
		},
		Plugins:    goplugin.PluginSet{plugin.PluginName: &plugin.ProviderPlugin{Impl: fakeprovider.Scripted()}},
		GRPCServer: goplugin.DefaultGRPCServer,
	})
}
