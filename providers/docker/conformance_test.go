package docker

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/providertest"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/plugintest"
)

// The conformance suite every provider passes, against the real engine and
// the CPU test image: compiled in, through the gRPC shim, and as the
// sena-provider-docker binary.

func conformanceSpec(img string) func(*testing.T) core.SandboxSpec {
	return func(*testing.T) core.SandboxSpec { return core.SandboxSpec{Image: img} }
}

func TestConformanceInProcess(t *testing.T) {
	requireDocker(t)
	providertest.Run(t, providertest.Options{
		New:  func(t *testing.T) core.Provider { return newProvider(t) },
		Spec: conformanceSpec(testImage(t)),
	})
}

func TestConformanceThroughGRPC(t *testing.T) {
	requireDocker(t)
	providertest.Run(t, providertest.Options{
		New:  func(t *testing.T) core.Provider { return plugintest.Serve(t, newProvider(t)) },
		Spec: conformanceSpec(testImage(t)),
	})
}

func TestConformanceAsPluginBinary(t *testing.T) {
	requireDocker(t)
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := filepath.Join(t.TempDir(), "sena-provider-docker")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sena-provider-docker").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			c, err := plugin.Launch(t.Context(), bin, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		Spec: conformanceSpec(testImage(t)),
	})
}
