//go:build unix

package modal

import (
	"log/slog"
	"os/exec"
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

func startLocalModal(t *testing.T) string {
	python := jupytertest.Interpreters(t)[0].Path
	fakemodal.Start(t).RunLocally(t, python)
	return python
}

func newConformanceProvider(t *testing.T) core.Provider {
	p := newProvider(slog.New(slog.DiscardHandler), testDockerfile)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestConformance runs the suite in process, over gRPC, and through the
// sena-provider-modal binary, which reaches the fake through the variables
// it is passed (plugins get no credentials unless named); SSL_CERT_FILE
// reaches every plugin. The fake enforces the sandbox's timeout and runs the
// model download; it builds no images and schedules nothing, so what only an
// image build or Modal's scheduler can show is checked on the requests instead.
func TestConformance(t *testing.T) {
	python := startLocalModal(t)
	o := providertest.Options{
		New: newConformanceProvider,
		PassEnv: []string{"MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH",
			"HF_ENDPOINT", "HF_HOME", "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY"},
		Skip: map[core.Field]string{
			core.FieldPythonPackages: "the fake builds no images; create_test.go checks the pip steps sent to Modal",
			core.FieldSystemPackages: "the fake builds no images; create_test.go checks the apt steps sent to Modal",
			core.FieldImage:          "the fake runs no images; create_test.go checks the base image sent to Modal",
			core.FieldCPUs:           "Modal's scheduler enforces CPUs; create_test.go checks the request and limit",
			core.FieldMemory:         "Modal's scheduler enforces memory; create_test.go checks the request and limit",
		},
	}
	// The models check runs the real download (huggingface_hub against a
	// test Hub) in the fake, then the session's bootstrap checks the volume.
	if err := exec.Command(python, "-c", "import huggingface_hub").Run(); err == nil {
		startHub(t).AddRepo("sena-test/tiny", "main", tinyModel())
		o.Model = core.ModelConfig{Name: "sena-test/tiny"}
	} else {
		o.Skip[core.FieldModels] = python + " has no huggingface_hub for the download the fake runs"
	}
	if !testing.Short() {
		o.PluginMain = "./cmd/sena-provider-modal"
	}
	providertest.Run(t, o)
}
