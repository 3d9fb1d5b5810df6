// Package plugin carries Sena providers across a process boundary: a provider
// plugin binary serves a core.Provider over go-plugin gRPC (Serve), and the
// host launches it (Launch) and uses it as a core.Provider (Client). Errors
// keep their core sentinels both ways, and kernel traffic never crosses here:
// the plugin hands back a Jupyter endpoint.
package plugin

import (
	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of sena.provider.v1. It changes only with a
// new proto package, served beside the old one.
const ProtocolVersion = 1

// PluginName is the name the provider is served under in go-plugin's plugin set.
const PluginName = "provider"

// Handshake identifies a Sena plugin. The cookie is not a secret: it keeps a
// user who runs a plugin binary by hand, or a host that launches some other
// program, from waiting on a handshake that will never come. Never change it:
// every plugin ever built would stop loading.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SENA_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "3d642431e1e0d166838bdbc5a4a7915fc2fa5e76ccde9f49062dc42403eef575",
}

// pluginSets are the protocol versions this build speaks, each with the
// plugin that serves it; go-plugin picks the highest one both sides know.
func pluginSets(p *ProviderPlugin) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {PluginName: p},
	}
}
