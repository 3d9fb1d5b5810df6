package providers_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/providertest"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/plugintest"
	"github.com/sena-labs/sena/providers/local"
)

// localSpec runs the local provider on the first Python with Jupyter found.
func localSpec(t *testing.T) core.SandboxSpec {
	return core.SandboxSpec{Options: []byte(`{"python":` + strconv.Quote(jupytertest.Interpreters(t)[0].Path) + `}`)}
}

func newLocal(t *testing.T) core.Provider {
	p, err := local.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocalConformanceInProcess(t *testing.T) {
	providertest.Run(t, providertest.Options{New: newLocal, Spec: localSpec})
}

func TestLocalConformanceThroughGRPC(t *testing.T) {
	providertest.Run(t, providertest.Options{
		New:  func(t *testing.T) core.Provider { return plugintest.Serve(t, newLocal(t)) },
		Spec: localSpec,
	})
}

// TestLocalConformanceAsPluginBinary builds sena-provider-local, drops it in
// a plugin directory under another name, and runs the suite through it, as
// a third-party plugin would be found and used.
func TestLocalConformanceAsPluginBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sena-provider-elsewhere")
	build := exec.Command("go", "build", "-o", bin, "./local/cmd/sena-provider-local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	found, problems := plugin.Discover([]string{dir})
	if len(problems) > 0 || found["elsewhere"] != bin {
		t.Fatalf("Discover: %v %v, want elsewhere -> %s", found, problems, bin)
	}
	providertest.Run(t, providertest.Options{
		New: func(t *testing.T) core.Provider {
			c, err := plugin.Launch(context.Background(), found["elsewhere"], nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		Spec: localSpec,
	})
}
