package slurm

import (
	"log/slog"
	"os"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/providertest"
)

// TestConformance runs the suite against the one-node cluster in process,
// over gRPC, and through the sena-provider-slurm binary found in a plugin
// directory. Models come from a Hub that speaks the real protocol, built
// in the test (the Hub itself is not reachable here), into the shared cache.
func TestConformance(t *testing.T) {
	needCluster(t)
	t.Parallel() // with the other tests that use no GPU; those that fill the node run first
	py := python(t)
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny", "main", map[string][]byte{"config.json": []byte(`{"model_type": "llama"}`)})
	// The in-process provider reads it here, the plugin through PassEnv
	// (t.Setenv cannot be used with t.Parallel).
	os.Setenv("HF_ENDPOINT", hubSrv.URL)
	t.Cleanup(func() { os.Unsetenv("HF_ENDPOINT") })
	shared := sharedDir(t)
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			p, err := New(slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		PluginMain: "./cmd/sena-provider-slurm",
		PassEnv:    []string{"HF_ENDPOINT"},
		Config: func(*testing.T) core.SandboxConfig {
			return core.SandboxConfig{ProviderOptions: map[string]any{"python": py, "shared_dir": shared}}
		},
		Model: core.ModelConfig{Name: "sena-test/tiny"},
		Skip: map[core.Field]string{
			core.FieldMemory: "SLURM's cgroups are not namespaced, so the suite's look at /sys/fs/cgroup's root cannot see the job's limit; TestMemoryLimit reads it in the job's own cgroup",
		},
	})
}
