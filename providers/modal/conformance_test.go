//go:build unix

package modal

import (
	"log/slog"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
	"github.com/sena-labs/sena/providertest"
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

// TestConformance runs the suite in process, over gRPC, and through the
// sena-provider-modal binary, which reaches the fake through the variables
// it is passed (plugins get no credentials unless named); SSL_CERT_FILE
// reaches every plugin. The fake runs no images, so what only an image
// build or Modal's scheduler can show is checked on the requests instead.
func TestConformance(t *testing.T) {
	startLocalModal(t)
	o := providertest.Options{
		New:     newConformanceProvider,
		PassEnv: []string{"MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH"},
		Skip: map[core.Field]string{
			core.FieldPythonPackages: "the fake builds no images; create_test.go checks the pip steps sent to Modal",
			core.FieldSystemPackages: "the fake builds no images; create_test.go checks the apt steps sent to Modal",
			core.FieldImage:          "the fake runs no images; create_test.go checks the base image sent to Modal",
			core.FieldCPUs:           "Modal's scheduler enforces CPUs; create_test.go checks the request",
			core.FieldMemory:         "Modal's scheduler enforces memory; create_test.go checks the request",
			core.FieldTimeout:        "Modal enforces the timeout; create_test.go checks the request",
			core.FieldModels:         "the fake has no Hub to download from; create_test.go checks the download sandbox and volumes",
		},
	}
	if !testing.Short() {
		o.PluginMain = "./cmd/sena-provider-modal"
	}
	providertest.Run(t, o)
}
