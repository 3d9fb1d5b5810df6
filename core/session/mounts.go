package session

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sena-labs/sena/core"
)

// maxUploadBytes bounds what a provider without bind mounts (Modal) is
// sent for the mounts of one sandbox: uploads are read into memory and
// written through the backend's file API at every start.
const maxUploadBytes = 256 << 20

// mountsDir is where a mount lands, relative to the work dir, when it
// names no target.
const mountsDir = "mounts"

// reserved are the work dir's entries Sena itself writes: a mount or repo
// placed there would hide them.
var reserved = []string{libDir, skillsDir, ".sena", ".ipynb_checkpoints"}

// planMounts turns the config's mounts into the spec: bind mounts where
// the provider honours mounts, files uploaded into the work dir where it
// only takes files, refused otherwise. Every source must exist; a relative
// target stays inside the work dir and off what Sena writes there.
func planMounts(cfg *core.SandboxConfig, caps core.Capabilities, spec *core.SandboxSpec) error {
	uploaded := 0
	targets := map[string]string{}
	for _, mc := range cfg.Mounts {
		src, err := mountSource(mc.Source)
		if err != nil {
			return err
		}
		target := mc.Target
		if target == "" {
			target = path.Join(mountsDir, filepath.Base(src))
		}
		target = strings.TrimSuffix(target, "/")
		if !path.IsAbs(target) {
			target = path.Clean(target)
			if err := checkWorkPath("mount "+mc.Source, target); err != nil {
				return err
			}
		}
		if prev, dup := targets[target]; dup {
			return core.Errorf(core.ErrInvalidConfig, "mounts %s and %s both go to %s: give one another target", prev, mc.Source, target)
		}
		targets[target] = mc.Source
		switch {
		case caps.Honours(core.FieldMounts):
			if caps.SharesHostFS {
				if mc.ReadOnly {
					return core.Errorf(core.ErrUnsupported, "mount %s read-only: provider %s runs on the host and cannot make a path read-only; drop :ro, or use the docker provider", mc.Source, cfg.Provider)
				}
				if path.IsAbs(target) && filepath.Clean(target) != src {
					return core.Errorf(core.ErrUnsupported, "mount %s at %s: provider %s runs on the host and cannot place a path elsewhere; give a target relative to the work dir (a symlink is made) or none", mc.Source, target, cfg.Provider)
				}
			}
			spec.Mounts = append(spec.Mounts, core.Mount{Source: src, Target: target, ReadOnly: mc.ReadOnly})
		case caps.Honours(core.FieldFiles):
			if path.IsAbs(target) {
				return core.Errorf(core.ErrUnsupported, "mount %s at %s: provider %s cannot bind host paths, so mounts are uploaded into the work dir; give a relative target (or none: %s)", mc.Source, target, cfg.Provider, path.Join(mountsDir, filepath.Base(src)))
			}
			n, err := uploadMount(spec, src, target, maxUploadBytes-uploaded)
			if err != nil {
				return err
			}
			uploaded += n
		default:
			return core.Errorf(core.ErrUnsupported, "provider %s can neither mount host paths nor copy files into the sandbox: drop mounts, or use local or docker", cfg.Provider)
		}
	}
	return nil
}

// mountSource is a mount's source as an absolute path, its symlinks
// resolved (what is mounted is what the link points to, which the user
// sees); it must exist.
func mountSource(s string) (string, error) {
	abs, err := filepath.Abs(expandHome(s))
	if err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "mount %s: %v", s, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "mount source %s does not exist on this machine: give an existing file or directory", s)
	}
	return real, nil
}

// checkWorkPath refuses a relative sandbox path that is not inside the
// work dir or that would cover what Sena writes there.
func checkWorkPath(what, p string) error {
	if p == "." || p == ".." || strings.HasPrefix(p, "../") || !filepath.IsLocal(p) {
		return core.Errorf(core.ErrInvalidConfig, "%s: target %q would leave the work dir", what, p)
	}
	first, _, _ := strings.Cut(p, "/")
	for _, r := range reserved {
		if first == r {
			return core.Errorf(core.ErrInvalidConfig, "%s: target %s would cover %s/, which Sena writes: choose another", what, p, r)
		}
	}
	if strings.HasSuffix(p, ".ipynb") && !strings.Contains(p, "/") {
		return core.Errorf(core.ErrInvalidConfig, "%s: target %s could cover the session's notebook: choose another", what, p)
	}
	return nil
}

// uploadMount adds a host file or tree to spec.Files under target,
// refusing symlinks inside it (they could reach outside what was named)
// and more than budget bytes. It returns the bytes added.
func uploadMount(spec *core.SandboxSpec, src, target string, budget int) (int, error) {
	if spec.Files == nil {
		spec.Files = map[string][]byte{}
	}
	total := 0
	add := func(rel string, p string) error {
		data, err := os.ReadFile(p)
		if err != nil {
			return core.Errorf(core.ErrInvalidConfig, "mount %s: %v", src, err)
		}
		total += len(data)
		if total > budget {
			return core.Errorf(core.ErrInvalidConfig, "mounts are uploaded to this provider, at most %d MiB in all, and %s goes over: mount less, or put data in a model repo or the image", maxUploadBytes>>20, src)
		}
		name := path.Join(target, rel)
		if _, dup := spec.Files[name]; dup {
			return core.Errorf(core.ErrInvalidConfig, "mount %s: %s is written twice (by another mount or the workspace)", src, name)
		}
		spec.Files[name] = data
		return nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return 0, core.Errorf(core.ErrInvalidConfig, "mount %s: %v", src, err)
	}
	if !st.IsDir() {
		return total, add("", src)
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return core.Errorf(core.ErrInvalidConfig, "mount %s: %s is a symlink; an uploaded mount holds plain files so nothing outside it is sent", src, rel)
		case d.IsDir() || !d.Type().IsRegular():
			return nil
		}
		return add(filepath.ToSlash(rel), p)
	})
	if err != nil {
		if _, ok := err.(interface{ Unwrap() error }); ok {
			return 0, err
		}
		return 0, fmt.Errorf("mount %s: %w", src, err)
	}
	return total, nil
}
