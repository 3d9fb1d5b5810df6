//go:build unix

package modal

import (
	"log/slog"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/providertest"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// TestConformance runs the suite every provider passes, with the real
// modal-go client against the fake, which runs each sandbox's entrypoint
// (the bootstrap and jupyter_server) as a local process behind a TLS
// "tunnel": the kernel client drives a real Jupyter through the URL the
// provider returns.
func TestConformance(t *testing.T) {
	python := jupytertest.Interpreters(t)[0].Path
	fake := fakemodal.Start(t)
	fake.RunLocally(t, python)
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			p := newProvider(slog.New(slog.DiscardHandler), testDockerfile)
			t.Cleanup(func() { _ = p.Close() })
			return p
		},
	})
}
