// Package plugintest runs a provider through the plugin boundary without
// building a binary, so that tests (the provider conformance suite among
// them) can check that a provider behaves the same over gRPC.
package plugintest

import (
	"testing"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
)

// Serve serves p over an in-process go-plugin gRPC connection and returns
// the host side: a core.Provider whose every call crosses the same shim and
// wire format as a launched plugin's. The connection closes when t ends.
func Serve(t testing.TB, p core.Provider) core.Provider {
	t.Helper()
	client, server := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{
		plugin.PluginName: &plugin.ProviderPlugin{Impl: p, Name: "in-process"},
	})
	t.Cleanup(func() {
		_ = client.Close()
		server.Stop()
	})
	raw, err := client.Dispense(plugin.PluginName)
	if err != nil {
		t.Fatalf("plugintest: dispense provider: %v", err)
	}
	return raw.(*plugin.Client)
}
