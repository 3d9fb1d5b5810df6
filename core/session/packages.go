package session

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/notebook"
)

// Installed is what InstallPackages did.
type Installed struct {
	// Packages are the distributions pip installed, as name-version.
	Packages []string `json:"installed"`
	// AlreadyImported are modules of those packages the kernel had imported
	// before: it keeps the old code until restart_kernel.
	AlreadyImported []string `json:"already_imported"`
	// Env is the session's package environment inside the sandbox.
	Env string `json:"env"`
}

// InstallPackages pip-installs requirements for s's kernel while it runs,
// streaming pip's output to onLine. Packages go into an environment private
// to the session (under the sandbox's work dir, layered over the kernel's
// own and first on sys.path, also after restarts), so an interpreter shared
// beyond the session, such as the host's Python under the local provider,
// is never changed. The requirements are recorded in the notebook's
// metadata (sena.installed_packages), the session's environment manifest.
//
// It is refused where the environment is not Sena's to change: a kernel on
// a Jupyter server Sena did not start, or a provider that declares it does
// not install Python packages.
func (m *Manager) InstallPackages(ctx context.Context, s *Session, requirements []string, onLine func(string)) (*Installed, error) {
	if len(requirements) == 0 {
		return nil, core.Errorf(core.ErrInvalidConfig, "give at least one requirement, such as einops or transformers==4.46.0")
	}
	for _, r := range requirements {
		if strings.TrimSpace(r) == "" || strings.HasPrefix(strings.TrimSpace(r), "-") {
			return nil, core.Errorf(core.ErrInvalidConfig, "requirement %q: give package specs (name, name==version, a path or URL to a wheel), not pip options", r)
		}
	}
	if s.Provider == ExternalProvider {
		return nil, core.Errorf(core.ErrUnsupported, "session %s is a kernel on a Jupyter server Sena did not start: its environment belongs to that server, so Sena does not change it "+
			"(run %%pip install with execute_code if that is what its owner wants)", s.ID)
	}
	prov, release, err := m.providers.Open(ctx, s.Provider, passEnvOf(&s.Config))
	if err != nil {
		return nil, err
	}
	info, err := prov.Info(ctx)
	release()
	if err != nil {
		return nil, err
	}
	if !info.Capabilities.Honours(core.FieldPythonPackages) {
		return nil, core.Errorf(core.ErrUnsupported, "provider %s runs sandboxes with a fixed Python environment (it does not install python_packages): "+
			"packages cannot be added while the session runs; use an image or provider that has them", s.Provider)
	}
	var out Installed
	args := map[string]any{"requirements": requirements, "env_dir": envDir}
	if err := s.quiet(ctx, "install_packages", args, &out, onLine); err != nil {
		return nil, err
	}
	err = s.change(ctx, func(nb *notebook.Notebook) error {
		return recordInstalled(nb, requirements)
	})
	return &out, err
}

// recordInstalled adds requirements to metadata.sena.installed_packages.
func recordInstalled(nb *notebook.Notebook, requirements []string) error {
	meta := map[string]any{}
	if raw, ok := nb.Metadata["sena"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("notebook metadata.sena is not an object: %v", err)
		}
	}
	var have []string
	if list, ok := meta["installed_packages"].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				have = append(have, s)
			}
		}
	}
	for _, r := range requirements {
		if !slices.Contains(have, r) {
			have = append(have, r)
		}
	}
	meta["installed_packages"] = have
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if nb.Metadata == nil {
		nb.Metadata = map[string]json.RawMessage{}
	}
	nb.Metadata["sena"] = data
	return nil
}

// InstalledPackages reads the requirements InstallPackages recorded in nb.
func InstalledPackages(nb *notebook.Notebook) []string {
	var meta struct {
		Installed []string `json:"installed_packages"`
	}
	if raw, ok := nb.Metadata["sena"]; ok {
		_ = json.Unmarshal(raw, &meta)
	}
	return meta.Installed
}
