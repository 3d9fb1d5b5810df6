package session_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// gitRepo makes a repository with git init: mylib/__init__.py says VALUE =
// 1 at tag v1, then 2 on the default branch. It returns the directory and
// v1's commit.
func gitRepo(t *testing.T, dir string) (string, string) {
	t.Helper()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	os.MkdirAll(filepath.Join(dir, "mylib"), 0o755)
	git("init", "--quiet", "--initial-branch=main")
	os.WriteFile(filepath.Join(dir, "mylib", "__init__.py"), []byte("VALUE = 1\n"), 0o644)
	git("add", ".")
	git("commit", "--quiet", "-m", "one")
	git("tag", "v1")
	v1 := git("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(dir, "mylib", "__init__.py"), []byte("VALUE = 2\n"), 0o644)
	git("commit", "--quiet", "-am", "two")
	return dir, v1
}

// Repos on the local provider (a real jupyter_server and kernel): one over
// file:// at a tag, with an install command; a private one over a local
// smart-HTTP git server (git http-backend) that wants a token, given as a
// named secret. Bad URLs and refs are refused before anything is created.
func TestRepos(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	e := newResearchEnv(t)
	opts := map[string]any{"python": py}
	pub, v1 := gitRepo(t, filepath.Join(t.TempDir(), "public-lib"))
	root := t.TempDir()
	gitRepo(t, filepath.Join(root, "private-lib"))
	exec.Command("git", "-C", filepath.Join(root, "private-lib"), "config", "http.receivepack", "false").Run()

	const token = "tok-3f9a7c1d2e"
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "token needed", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	private := srv.URL + "/private-lib/.git"
	t.Setenv("SENA_TEST_GIT_TOKEN", token)

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			repo core.RepoConfig
			want string
		}{
			{core.RepoConfig{URL: "file://" + pub, Ref: "no-such-ref"}, "ref no-such-ref"},
			{core.RepoConfig{URL: "file://" + filepath.Join(root, "none")}, "git clone failed"},
			{core.RepoConfig{URL: private}, "git clone failed"},
			{core.RepoConfig{URL: private, Secret: "SENA_TEST_NO_SUCH_SECRET"}, "SENA_TEST_NO_SUCH_SECRET is not set"},
			{core.RepoConfig{URL: "file://" + pub, Path: "lib/x"}, "Sena writes"},
		} {
			_, err := e.m.Up(context.Background(), &core.SandboxConfig{ProviderOptions: opts, Repos: []core.RepoConfig{c.repo}})
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalidConfig) {
				t.Errorf("%+v: %v, want an error naming %q", c.repo, err, c.want)
			}
		}
		e.noSessions(t)
	})

	rec, s := e.up(t, &core.SandboxConfig{ProviderOptions: opts, Repos: []core.RepoConfig{
		{URL: "file://" + pub, Ref: "v1", Install: `python -c "import sys; print(sys.prefix)" > prefix.txt && pip --version > pip.txt`},
		{URL: private, Secret: "SENA_TEST_GIT_TOKEN", Path: "vendor/priv"},
	}})
	if len(rec.Repos) != 2 || rec.Repos[0].Commit != v1 || rec.Repos[0].Path != "repos/public-lib" || rec.Repos[1].Path != "vendor/priv" || len(rec.Repos[1].Commit) != 40 {
		t.Fatalf("repos recorded: %+v", rec.Repos)
	}
	if env := rec.Environment; env == nil || len(env.Repos) != 2 || env.Repos[0].Commit != v1 {
		t.Errorf("manifest repos: %+v", rec.Environment)
	}
	got := run(t, s, `import sys, os, mylib
print(mylib.VALUE, os.path.relpath(mylib.__file__))
print(open('repos/public-lib/prefix.txt').read().strip() == os.path.abspath('.sena/env'), 'env' in open('repos/public-lib/pip.txt').read())
print(open('vendor/priv/mylib/__init__.py').read().strip(), os.path.exists('repos/public-lib/.git'))`)
	if got != "1 repos/public-lib/mylib/__init__.py\nTrue True\nVALUE = 2 False" {
		t.Errorf("in the kernel:\n%s\nwant mylib at v1 from repos/public-lib, installed in the session's env, the private repo at main", got)
	}
	// The token is nowhere the sandbox, the record or git's files hold.
	recJSON, _ := json.Marshal(rec)
	if strings.Contains(string(recJSON), token) {
		t.Error("the repo token is in the session record")
	}
	filepath.Walk(e.store.SandboxDir(rec.ID), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && info.Size() < 1<<20 {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), token) {
				t.Errorf("the repo token is in %s", p)
			}
		}
		return nil
	})
	if got := run(t, s, "import os; print(any('tok-3f9a' in v for v in os.environ.values()))"); got != "False" {
		t.Error("the repo token is in the kernel's environment")
	}
}
