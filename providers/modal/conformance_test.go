//go:build unix

package modal

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/providertest"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/plugintest"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// The conformance suite every provider passes, with the real modal-go
// client against the fake, which runs each sandbox's entrypoint (the
// bootstrap, then jupyter_server) as a local process behind a TLS tunnel:
// the kernel client drives a real Jupyter through the URL the provider
// returns.

func startLocalModal(t *testing.T) {
	python := jupytertest.Interpreters(t)[0].Path
	fakemodal.Start(t).RunLocally(t, python)
}

func newConformanceProvider(t *testing.T) core.Provider {
	p := newProvider(slog.New(slog.DiscardHandler), testDockerfile)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestConformanceInProcess(t *testing.T) {
	startLocalModal(t)
	providertest.Run(t, providertest.Options{New: newConformanceProvider})
}

func TestConformanceThroughGRPC(t *testing.T) {
	startLocalModal(t)
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider { return plugintest.Serve(t, newConformanceProvider(t)) },
	})
}

// TestConformanceAsPluginBinary builds sena-provider-modal and runs the
// suite through it; the plugin reaches the fake through the variables it is
// passed (plugins get no credentials unless named): MODAL_SERVER_URL and the
// token; SSL_CERT_FILE reaches every plugin.
func TestConformanceAsPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "sena-provider-modal")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sena-provider-modal").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	startLocalModal(t)
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			c, err := plugin.Launch(context.Background(), bin, &plugin.LaunchOptions{
				PassEnv: []string{"MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH"},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
	})
}
