// Package providers finds providers by name: the built-in ones compiled into
// sena, and plugin binaries named sena-provider-NAME in the plugin directories.
package providers

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/providers/docker"
	"github.com/sena-labs/sena/providers/local"
	"github.com/sena-labs/sena/providers/modal"
)

// Builtin returns the providers compiled into sena.
func Builtin() map[string]core.Factory {
	return map[string]core.Factory{
		local.Name:  local.New,
		docker.Name: docker.New,
		modal.Name:  modal.New,
	}
}

// Registry opens providers by name. A built-in name always means the
// built-in provider; any other name is looked up among the plugins.
type Registry struct {
	Builtin    map[string]core.Factory
	PluginDirs []string
	Logger     *slog.Logger
}

// NewRegistry returns a registry of the built-in providers and the plugins
// found in dirs.
func NewRegistry(dirs []string, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{Builtin: Builtin(), PluginDirs: dirs, Logger: logger}
}

// Open starts the named provider; release stops its plugin process, if any.
// A plugin receives the host variables named in passEnv (and in
// SENA_PLUGIN_ENV) besides a minimal environment.
func (r *Registry) Open(ctx context.Context, name string, passEnv []string) (core.Provider, func(), error) {
	if f, ok := r.Builtin[name]; ok {
		p, err := f(r.Logger.With("provider", name))
		return p, func() {}, err
	}
	found, _ := plugin.Discover(r.PluginDirs)
	path, ok := found[name]
	if !ok {
		return nil, nil, core.Errorf(core.ErrInvalidConfig, "unknown provider %q: the providers are %s (a plugin is an executable named sena-provider-NAME in %s)",
			name, strings.Join(r.Names(), ", "), strings.Join(r.PluginDirs, ":"))
	}
	c, err := plugin.Launch(ctx, path, &plugin.LaunchOptions{Logger: r.Logger.With("plugin", name), PassEnv: passEnv})
	if err != nil {
		return nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil
}

// Names lists built-in and plugin providers, sorted.
func (r *Registry) Names() []string {
	var names []string
	for n := range r.Builtin {
		names = append(names, n)
	}
	found, _ := plugin.Discover(r.PluginDirs)
	for n := range found {
		if _, builtin := r.Builtin[n]; !builtin {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Describe is one provider as `sena providers` shows it.
type Describe struct {
	Name  string             `json:"name"`
	Kind  string             `json:"kind"` // builtin | plugin
	Path  string             `json:"path,omitempty"`
	Info  *core.ProviderInfo `json:"info,omitempty"`
	Error string             `json:"error,omitempty"`
}

// DescribeAll asks every provider for its info; broken plugins are listed
// with their error rather than hiding the others.
func (r *Registry) DescribeAll(ctx context.Context) []Describe {
	found, problems := plugin.Discover(r.PluginDirs)
	var out []Describe
	for _, name := range r.Names() {
		d := Describe{Name: name, Kind: "builtin"}
		if _, ok := r.Builtin[name]; !ok {
			d.Kind, d.Path = "plugin", found[name]
		}
		p, release, err := r.Open(ctx, name, nil)
		if err == nil {
			d.Info, err = p.Info(ctx)
			release()
		}
		if err != nil {
			d.Error = err.Error()
		}
		out = append(out, d)
	}
	for _, e := range problems {
		out = append(out, Describe{Name: "?", Kind: "plugin", Error: fmt.Sprint(e)})
	}
	return out
}
