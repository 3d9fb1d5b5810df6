package session

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"gopkg.in/yaml.v3"
)

// Where workspace files land, relative to the sandbox's Jupyter root.
const (
	libDir    = "lib"
	skillsDir = "skills"
	// maxWorkspaceBytes keeps workspaces to code: data and weights belong
	// in models or mounts, not in every sandbox's start-up.
	maxWorkspaceBytes = 64 << 20
)

// workspace is a Workspace resolved into files for the sandbox.
type workspace struct {
	builtin  fs.FS
	files    map[string][]byte
	skills   []Skill
	initCode string
	size     int
}

// prepareWorkspace reads the workspace's files; builtin holds the skills
// found by bare name (`--skill steering`), nil for none.
func prepareWorkspace(cfg *core.Workspace, builtin fs.FS) (*workspace, error) {
	ws := &workspace{files: map[string][]byte{}, initCode: cfg.InitCode, builtin: builtin}
	for _, lib := range cfg.Libraries {
		if err := ws.addLibrary(lib); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{} // skill names and the refs that named them
	queue := append([]string{}, cfg.Skills...)
	explicit := len(queue)
	for i := 0; i < len(queue); i++ {
		if i >= explicit && seen[queue[i]] {
			continue
		}
		sk, requires, err := ws.addSkill(queue[i])
		if err != nil {
			return nil, err
		}
		if seen[sk.Name] {
			if i < explicit {
				return nil, core.Errorf(core.ErrInvalidConfig, "skill %s is given twice", sk.Name)
			}
			continue
		}
		seen[sk.Name], seen[queue[i]] = true, true
		ws.skills = append(ws.skills, sk)
		for _, r := range requires {
			if !seen[r] && !slices.Contains(queue[i+1:], r) {
				queue = append(queue, r)
			}
		}
	}
	return ws, nil
}

func (ws *workspace) addLibrary(lib core.Library) error {
	switch {
	case lib.Code != "":
		name := lib.Name
		if name == "" {
			return core.Errorf(core.ErrInvalidConfig, "inline library code needs a name, such as helpers.py")
		}
		if !safeName(name) || !strings.HasSuffix(name, ".py") {
			return core.Errorf(core.ErrInvalidConfig, "library name %q: use a plain module file name such as helpers.py", name)
		}
		return ws.add(path.Join(libDir, name), []byte(lib.Code))
	case lib.Path == "":
		return core.Errorf(core.ErrInvalidConfig, "a library needs a path (a .py file or a package directory) or inline code")
	}
	// Lstat: a library that is itself a symlink is refused like one inside a
	// package, so nothing outside what the user named is copied.
	st, err := os.Lstat(lib.Path)
	if err != nil {
		return core.Errorf(core.ErrInvalidConfig, "library %s: %v", lib.Path, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return core.Errorf(core.ErrInvalidConfig, "library %s is a symlink: give the file or directory it points to, so what is copied is what you named", lib.Path)
	}
	base := filepath.Base(filepath.Clean(lib.Path))
	if !st.IsDir() {
		if !strings.HasSuffix(base, ".py") {
			return core.Errorf(core.ErrInvalidConfig, "library %s: a library file must be a .py module", lib.Path)
		}
		data, err := os.ReadFile(lib.Path)
		if err != nil {
			return err
		}
		return ws.add(path.Join(libDir, base), data)
	}
	if _, err := os.Stat(filepath.Join(lib.Path, "__init__.py")); err != nil {
		return core.Errorf(core.ErrInvalidConfig, "library %s: a library directory must be a Python package (with __init__.py)", lib.Path)
	}
	return ws.addTree(os.DirFS(lib.Path), lib.Path, path.Join(libDir, base))
}

func (ws *workspace) addSkill(ref string) (Skill, []string, error) {
	var fsys fs.FS
	var where string
	if st, err := os.Lstat(ref); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return Skill{}, nil, core.Errorf(core.ErrInvalidConfig, "skill %s is a symlink: give the directory it points to", ref)
	} else if err == nil && st.IsDir() {
		fsys, where = os.DirFS(ref), ref
	} else if ws.builtin != nil && safeName(ref) {
		sub, err := fs.Sub(ws.builtin, ref)
		if err == nil {
			if _, err := fs.Stat(sub, "SKILL.md"); err == nil {
				fsys, where = sub, "built-in skill "+ref
			}
		}
	}
	if fsys == nil {
		return Skill{}, nil, core.Errorf(core.ErrInvalidConfig, "skill %q: no such directory and no built-in skill of that name (`sena skills` lists them)", ref)
	}
	md, err := fs.ReadFile(fsys, "SKILL.md")
	if err != nil {
		return Skill{}, nil, core.Errorf(core.ErrInvalidConfig, "skill %s has no SKILL.md: a skill is a directory with a SKILL.md describing it", where)
	}
	meta, err := parseSkillMeta(md)
	if err != nil {
		return Skill{}, nil, core.Errorf(core.ErrInvalidConfig, "skill %s: %v", where, err)
	}
	name := meta.Name
	if name == "" {
		name = filepath.Base(filepath.Clean(ref))
	}
	if !safeName(name) {
		return Skill{}, nil, core.Errorf(core.ErrInvalidConfig, "skill %s: name %q must be a plain directory name", where, name)
	}
	dest := path.Join(skillsDir, name)
	if err := ws.addTree(fsys, where, dest); err != nil {
		return Skill{}, nil, err
	}
	return Skill{Name: name, Description: meta.Description, Path: dest}, meta.Requires, nil
}

// SkillMeta is the front matter of a SKILL.md.
type SkillMeta struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Requires    []string `yaml:"requires"` // skills whose modules this one imports
}

// ParseSkillFile reads the YAML front matter of a SKILL.md (name, description).
func ParseSkillFile(md []byte) (name, description string, err error) {
	m, err := parseSkillMeta(md)
	return m.Name, m.Description, err
}

func parseSkillMeta(md []byte) (SkillMeta, error) {
	var meta SkillMeta
	text := strings.TrimLeft(string(md), "\ufeff")
	rest, ok := strings.CutPrefix(text, "---\n")
	if !ok {
		return meta, fmt.Errorf("SKILL.md must start with YAML front matter (---, name:, description:, ---)")
	}
	front, _, ok := strings.Cut(rest, "\n---")
	if !ok {
		return meta, fmt.Errorf("SKILL.md front matter is not closed with ---")
	}
	if err := yaml.Unmarshal([]byte(front), &meta); err != nil {
		return meta, fmt.Errorf("SKILL.md front matter: %v", err)
	}
	meta.Description = strings.TrimSpace(meta.Description)
	if meta.Description == "" {
		return meta, fmt.Errorf("SKILL.md needs a description: agents choose skills by it")
	}
	return meta, nil
}

// addTree copies a directory, refusing symlinks (they could reach outside
// it) and skipping caches.
func (ws *workspace) addTree(fsys fs.FS, where, dest string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "__pycache__" || (strings.HasPrefix(d.Name(), ".") && p != ".")) {
			return fs.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return core.Errorf(core.ErrInvalidConfig, "%s: %s is a symlink; workspace trees must hold plain files so nothing outside them is copied", where, p)
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return ws.add(path.Join(dest, p), data)
	})
}

func (ws *workspace) add(p string, data []byte) error {
	if _, dup := ws.files[p]; dup {
		return core.Errorf(core.ErrInvalidConfig, "two workspace entries both write %s", p)
	}
	ws.size += len(data)
	if ws.size > maxWorkspaceBytes {
		return core.Errorf(core.ErrInvalidConfig, "the workspace is over %d MiB: put data and weights in models or mounts, not libraries", maxWorkspaceBytes>>20)
	}
	ws.files[p] = data
	return nil
}

func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.HasPrefix(s, ".")
}

// envDir is where install_packages puts packages, relative to the Jupyter
// root: a session-private environment layered over the kernel's own.
const envDir = ".sena/env"

// setupKernel runs after each kernel (re)start, without recording it in
// the notebook: the workspace's libraries and skills and the session's
// installed packages go on sys.path, so they import as plain modules, and
// a fault log is opened so a crash leaves a trace (see Session.died).
func setupKernel(ctx context.Context, k *kernel.Kernel, skills []Skill, repos []Repo) error {
	paths := []string{libDir}
	for _, s := range skills {
		paths = append(paths, s.Path)
	}
	for _, r := range repos {
		paths = append(paths, r.Path)
	}
	args := map[string]any{"paths": paths, "kernel_id": k.ID(), "env_dir": envDir}
	if err := callKernelside(ctx, k, "setup", args, nil, nil); err != nil {
		return fmt.Errorf("prepare the kernel: %w", err)
	}
	return nil
}
