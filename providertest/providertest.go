// Package providertest is the conformance suite every Sena provider passes:
// in process, through the plugin boundary over gRPC, and as a plugin binary
// found in a plugin directory. Third-party provider authors run it from
// their own tests with one call:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Options{
//			New:        func(t *testing.T) core.Provider { p, _ := myprovider.New(nil); return p },
//			PluginMain: "./cmd/sena-provider-mine",
//		})
//	}
//
// It starts real sandboxes and drives their Jupyter with Sena's kernel
// client. Requests are built by session.PlanSandbox, the code `sena up`
// uses, and its cases follow what the provider declares: every declared
// field is checked inside a sandbox, every undeclared one must be refused
// before Create.
package providertest

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/plugintest"
)

// Options configure the suite for one provider.
type Options struct {
	// New returns a provider instance. The suite calls it more than once, to
	// check that a Handle works in a fresh instance (providers are stateless).
	New func(t *testing.T) core.Provider
	// PluginMain is the provider's plugin binary, as `go build` takes it
	// from the test's directory ("./cmd/sena-provider-mine"). When set, the
	// suite also runs through that binary, found under another name in a
	// plugin directory, as Sena finds a third party's.
	PluginMain string
	// PassEnv names host variables the plugin binary receives (plugins start
	// with a minimal environment).
	PassEnv []string
	// Config is the base of every sandbox's config: an image, provider
	// options. Default: an empty config.
	Config func(t *testing.T) core.SandboxConfig
	// Timeout bounds each sandbox's start (default 3 minutes).
	Timeout time.Duration
	// PackageHost is the address at which the sandbox, and the builds of its
	// environment, reach this host: the suite serves a wheel there for the
	// python_packages check (default 127.0.0.1).
	PackageHost string
	// SystemPackage is a Debian package that installs an executable of the
	// same name, for the system_packages check (default jq).
	SystemPackage string
	// ImageCheck is Python whose output (Want) shows the sandbox runs the
	// image Config names, for providers that declare image.
	ImageCheck Check
	// Model is a model the backend can fetch, for providers that declare
	// models (they fetch them on their side).
	Model core.ModelConfig
	// Skip lists declared fields whose check inside a sandbox cannot run
	// against this backend, with the reason, which the suite reports.
	Skip map[core.Field]string
}

// Check is code run in a sandbox's kernel and the output it must print.
type Check struct{ Code, Want string }

func (o *Options) defaults() {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Config == nil {
		o.Config = func(*testing.T) core.SandboxConfig { return core.SandboxConfig{} }
	}
	if o.PackageHost == "" {
		o.PackageHost = "127.0.0.1"
	}
	if o.SystemPackage == "" {
		o.SystemPackage = "jq"
	}
}

// Run runs the conformance suite three ways: InProcess, GRPC (the plugin
// shim over an in-process connection) and, with PluginMain, PluginBinary.
func Run(t *testing.T, o Options) {
	o.defaults()
	modes := []struct {
		name string
		new  func(*testing.T) core.Provider
	}{
		{"InProcess", o.New},
		{"GRPC", func(t *testing.T) core.Provider { return plugintest.Serve(t, o.New(t)) }},
	}
	if o.PluginMain != "" {
		modes = append(modes, struct {
			name string
			new  func(*testing.T) core.Provider
		}{"PluginBinary", pluginBinary(t, o)})
	}
	probe := &probeServer{}
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := &suite{o: o, new: m.new, mode: m.name, first: i == 0, probe: probe, run0: t}
			s.run(t)
		})
	}
}

// pluginBinary builds PluginMain, drops it in a plugin directory under a
// name of the suite's, and returns what launches it from there.
func pluginBinary(t *testing.T, o Options) func(*testing.T) core.Provider {
	dir := t.TempDir()
	bin := filepath.Join(dir, plugin.FilePrefix+"conformance-"+randHex(3))
	if out, err := exec.Command("go", "build", "-o", bin, o.PluginMain).CombinedOutput(); err != nil {
		t.Fatalf("build the plugin %s: %v\n%s", o.PluginMain, err, out)
	}
	found, problems := plugin.Discover([]string{dir})
	if len(problems) > 0 || len(found) != 1 {
		t.Fatalf("plugin.Discover(%s) = %v %v, want the built plugin", dir, found, problems)
	}
	var path string
	for _, p := range found {
		path = p
	}
	return func(t *testing.T) core.Provider {
		c, err := plugin.Launch(context.Background(), path, &plugin.LaunchOptions{PassEnv: o.PassEnv})
		if err != nil {
			t.Fatalf("launch the plugin: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}
