package session

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/sena-labs/sena/core"
)

// Repo is a git repository brought into the sandbox, as recorded in the
// session and its environment manifest.
type Repo struct {
	URL     string `json:"url"` // as given, without credentials
	Ref     string `json:"ref,omitempty"`
	Commit  string `json:"commit"`
	Path    string `json:"path"` // in the work dir; on sys.path
	Install string `json:"install,omitempty"`
}

// maxRepoBytes bounds one repository's files: they are read into memory
// and sent as the sandbox's files.
const maxRepoBytes = 256 << 20

// cloneRepos clones each repo on the host at its ref (a private one with
// its secret as an HTTP header, through git's environment) and adds its
// files, without .git, to spec.Files under its path. Everything is checked
// before anything is created: a URL git cannot clone and a ref that does not
// exist are errors here.
func cloneRepos(ctx context.Context, cfg *core.SandboxConfig, caps core.Capabilities, spec *core.SandboxSpec) ([]Repo, error) {
	if len(cfg.Repos) == 0 {
		return nil, nil
	}
	if !caps.Honours(core.FieldFiles) {
		return nil, core.Errorf(core.ErrUnsupported, "provider %s cannot copy files into the sandbox, so it cannot take repos: drop them, or use local, docker or modal", cfg.Provider)
	}
	if _, err := exec.LookPath("git"); err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "repos are cloned on this machine and git is not installed here: install git")
	}
	var out []Repo
	paths := map[string]string{}
	for _, rc := range cfg.Repos {
		shown := redactURL(rc.URL)
		p := rc.Path
		if p == "" {
			p = path.Join("repos", repoName(rc.URL))
		}
		p = path.Clean(p)
		if err := checkWorkPath("repo "+shown, p); err != nil {
			return nil, err
		}
		if prev, dup := paths[p]; dup {
			return nil, core.Errorf(core.ErrInvalidConfig, "repos %s and %s both go to %s: give one a path", prev, shown, p)
		}
		paths[p] = shown
		commit, err := cloneRepo(ctx, rc, p, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, Repo{URL: shown, Ref: rc.Ref, Commit: commit, Path: p, Install: rc.Install})
	}
	return out, nil
}

func cloneRepo(ctx context.Context, rc core.RepoConfig, target string, spec *core.SandboxSpec) (string, error) {
	shown := redactURL(rc.URL)
	env := append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=")
	if rc.Secret != "" {
		vals, err := resolveSecrets([]string{rc.Secret}, false)
		if err != nil {
			return "", core.Errorf(core.ErrInvalidConfig, "repo %s: %v", shown, err)
		}
		// git reads config from its environment: the token is in no file
		// and on no command line.
		auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + vals[rc.Secret]))
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+auth)
	}
	dir, err := os.MkdirTemp("", "sena-repo-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = err.Error()
			}
			return "", fmt.Errorf("%s", msg)
		}
		return strings.TrimSpace(stdout.String()), nil
	}
	url := rc.URL
	if !strings.Contains(url, "://") && !strings.Contains(url, "@") {
		url = expandHome(url) // a path on this machine
	}
	if _, err := git("clone", "--quiet", "--", url, dir); err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "repo %s: git clone failed: %v", shown, err)
	}
	if rc.Ref != "" {
		var sha string
		for _, cand := range []string{"origin/" + rc.Ref, rc.Ref} {
			if sha, err = git("-C", dir, "rev-parse", "--verify", "--quiet", "--end-of-options", cand+"^{commit}"); err == nil && sha != "" {
				break
			}
		}
		if sha == "" {
			return "", core.Errorf(core.ErrInvalidConfig, "repo %s: ref %s is not a branch, tag or commit there", shown, rc.Ref)
		}
		if _, err := git("-C", dir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha); err != nil {
			return "", core.Errorf(core.ErrInvalidConfig, "repo %s: check out %s: %v", shown, rc.Ref, err)
		}
	}
	commit, err := git("-C", dir, "rev-parse", "HEAD")
	if err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "repo %s: %v", shown, err)
	}
	if err := addRepoFiles(spec, dir, target, shown); err != nil {
		return "", err
	}
	return commit, nil
}

// addRepoFiles adds a checkout's files, without .git, under target. A
// symlink is followed when it points at a file inside the checkout; any
// other is refused, so nothing outside the repository is sent.
func addRepoFiles(spec *core.SandboxSpec, dir, target, shown string) error {
	if spec.Files == nil {
		spec.Files = map[string][]byte{}
	}
	total := 0
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		src := p
		if d.Type()&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(p)
			realDir, _ := filepath.EvalSymlinks(dir)
			st, serr := os.Stat(p)
			if err != nil || serr != nil || !st.Mode().IsRegular() || !strings.HasPrefix(real, realDir+string(filepath.Separator)) {
				return core.Errorf(core.ErrInvalidConfig, "repo %s: %s is a symlink to something outside the repository or not a file; Sena copies plain files", shown, rel)
			}
			src = real
		} else if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if total += len(data); total > maxRepoBytes {
			return core.Errorf(core.ErrInvalidConfig, "repo %s is over %d MiB of files: Sena copies repos into the sandbox; put large data in a mount or a model repo", shown, maxRepoBytes>>20)
		}
		name := path.Join(target, filepath.ToSlash(rel))
		if _, dup := spec.Files[name]; dup {
			return core.Errorf(core.ErrInvalidConfig, "repo %s: %s is written twice (by another repo, a mount or the workspace)", shown, name)
		}
		spec.Files[name] = data
		return nil
	})
}

// repoName is the last element of a git URL, without .git.
func repoName(u string) string {
	u = strings.TrimSuffix(strings.TrimRight(u, "/"), ".git")
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		u = u[i+1:]
	}
	if u == "" || u == "." || u == ".." {
		return "repo"
	}
	return u
}

// redactURL drops a password from a URL, so records and errors never
// hold one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// installRepos runs each repo's install command in its directory in the
// sandbox, with the session's package environment first on PATH, and then
// puts that environment on the kernel's sys.path.
func installRepos(ctx context.Context, s *Session, repos []Repo, progress func(string, ...any)) error {
	for _, r := range repos {
		if strings.TrimSpace(r.Install) == "" {
			continue
		}
		progress("installing repo %s: %s", r.Path, r.Install)
		args := map[string]any{"command": r.Install, "cwd": r.Path, "env_dir": envDir}
		if err := callKernelside(ctx, s.kernel(), "run_install", args, nil, func(line string) { progress("%s", line) }); err != nil {
			return core.Errorf(core.ErrInvalidConfig, "repo %s: install command %q: %v", r.URL, r.Install, err)
		}
	}
	return nil
}
