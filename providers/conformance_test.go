package providers_test

import (
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/providers/local"
	"github.com/sena-labs/sena/providertest"
)

// TestLocalConformance runs the suite on the local provider in process,
// over gRPC, and as the sena-provider-local binary found under another
// name in a plugin directory, as a third party's plugin would be.
func TestLocalConformance(t *testing.T) {
	python := jupytertest.Interpreters(t)[0].Path
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			p, err := local.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		PluginMain: "./local/cmd/sena-provider-local",
		Config:     func(*testing.T) core.SandboxConfig { return core.SandboxConfig{Python: python} },
	})
}
