package miniprovider_test

import (
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/examples/miniprovider"
	"github.com/sena-labs/sena/providertest"
)

// The example provider passes the conformance suite three ways: what it
// declares (files) is checked in a sandbox, everything else is refused.
func TestConformance(t *testing.T) {
	python := jupytertest.Interpreters(t)[0].Path
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			p, err := miniprovider.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		PluginMain: "./cmd/sena-provider-mini",
		Config: func(*testing.T) core.SandboxConfig {
			return core.SandboxConfig{ProviderOptions: map[string]any{"python": python}}
		},
	})
}
