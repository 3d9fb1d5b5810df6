package local

import (
	"os"
	"path/filepath"

	"github.com/sena-labs/sena/core"
)

// checkLayout validates Spec.Files and Spec.Mounts before anything is
// written or started.
func checkLayout(spec *core.SandboxSpec) error {
	for name := range spec.Files {
		if !filepath.IsLocal(name) {
			return core.Errorf(core.ErrInvalidConfig, "file %q: paths must be relative to the work dir and must not leave it with '..'", name)
		}
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) {
			return core.Errorf(core.ErrInvalidConfig, "mount source %q: give an absolute host path", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return core.Errorf(core.ErrInvalidConfig, "mount source %s does not exist on this host: %v", m.Source, err)
		}
		if m.ReadOnly {
			return core.Errorf(core.ErrUnsupported, "mount %s read-only: the local provider runs on the host and cannot make a path read-only; drop :ro, or use the docker provider", m.Source)
		}
		switch {
		case filepath.IsAbs(m.Target):
			if filepath.Clean(m.Target) != filepath.Clean(m.Source) {
				return core.Errorf(core.ErrUnsupported, "mount target %s: the local provider runs on the host and cannot place %s there; "+
					"use a target relative to the work dir (a symlink is made) or the source path itself", m.Target, m.Source)
			}
		case !filepath.IsLocal(m.Target):
			return core.Errorf(core.ErrInvalidConfig, "mount target %q: a relative target must stay inside the work dir", m.Target)
		}
	}
	return nil
}

// writeLayout writes Spec.Files under dir and makes a symlink for each mount
// with a relative target. checkLayout must have passed.
func writeLayout(dir string, spec *core.SandboxSpec) error {
	for name, data := range spec.Files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	for _, m := range spec.Mounts {
		if filepath.IsAbs(m.Target) {
			continue // the source itself: already visible
		}
		link := filepath.Join(dir, m.Target)
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			return err
		}
		if cur, err := os.Readlink(link); err == nil && cur == m.Source {
			continue // left by an earlier Create in the same work dir
		}
		if err := os.Symlink(m.Source, link); err != nil {
			return core.Errorf(core.ErrInvalidConfig, "mount %s -> %s: %v", m.Source, m.Target, err)
		}
	}
	return nil
}
