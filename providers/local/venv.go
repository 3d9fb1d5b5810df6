package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/pipprogress"
)

// venvSpec is one cached virtual environment: its base interpreter and packages.
type venvSpec struct {
	Base       string   // interpreter to build from
	Packages   []string // pip requirement strings
	SystemSite bool     // --system-site-packages: see the base's packages
}

// completeMarker is written last into a finished environment. Environments
// are built in place rather than renamed into place because a venv is not
// relocatable (pip writes its absolute path into scripts); the marker, set
// under the lock, is what makes a half-built one invisible.
const completeMarker = ".sena-complete"

// ensureVenv returns the python of the cached environment for v, building it
// first if needed. Concurrent callers, in this process or others, build it
// once: the build runs under an exclusive flock on venvs/<key>.lock.
func ensureVenv(ctx context.Context, v venvSpec, progress func(core.Progress)) (string, error) {
	cache, err := cacheDir()
	if err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "%v", err)
	}
	key, err := venvKey(ctx, v)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "venvs", key)
	python := filepath.Join(dir, "bin", "python")
	if isComplete(dir) {
		return python, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "cache dir: %v (set SENA_CACHE_DIR to a writable directory)", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if isComplete(dir) { // built by whoever held the lock before us
		return python, nil
	}
	if err := buildVenv(ctx, dir, v, progress); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return python, nil
}

// venvKey hashes the base interpreter (its real executable and version, so
// an upgraded Python gets a new environment) and the sorted package set.
func venvKey(ctx context.Context, v venvSpec) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, v.Base, "-c", "import sys; print(sys.executable); print(sys.version)").Output()
	if err != nil {
		return "", core.Errorf(core.ErrInvalidConfig, "python %s does not run (%v): give a working Python 3", v.Base, err)
	}
	pkgs := slices.Clone(v.Packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "sena-venv-v1\n%s\nsystem-site=%t\n%s", out, v.SystemSite, strings.Join(pkgs, "\n"))
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

func isComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, completeMarker))
	return err == nil
}

// lockFile takes an exclusive flock on path, waiting while ctx allows.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "lock %s: %v (set SENA_CACHE_DIR to a writable directory)", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another sena to finish the Python environment: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// buildVenv creates the environment in dir with uv when it is on PATH, else
// with the venv module and pip, and marks it complete.
func buildVenv(ctx context.Context, dir string, v venvSpec, progress func(core.Progress)) error {
	if err := os.RemoveAll(dir); err != nil { // a build that was interrupted
		return err
	}
	python := filepath.Join(dir, "bin", "python")
	var steps [][]string
	tool := "pip"
	if uv, err := exec.LookPath("uv"); err == nil {
		tool = "uv"
		// --seed: kernels need pip for %pip install, as in a venv-module build.
		create := []string{uv, "venv", "--quiet", "--seed", "--python", v.Base}
		if v.SystemSite {
			create = append(create, "--system-site-packages")
		}
		install := []string{uv, "pip", "install", "--python", python}
		steps = [][]string{append(create, dir), append(install, v.Packages...)}
	} else {
		create := []string{v.Base, "-m", "venv"}
		if v.SystemSite {
			create = append(create, "--system-site-packages")
		}
		// pip reads PIP_INDEX_URL, PIP_FIND_LINKS and PIP_NO_INDEX itself.
		// Not --quiet: its Collecting/Downloading lines are the progress.
		install := []string{python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"}
		steps = [][]string{append(create, dir), append(install, v.Packages...)}
	}
	if progress == nil {
		progress = func(core.Progress) {}
	}
	progress(core.Note("creating Python environment with %s (%s) in %s", tool, strings.Join(v.Packages, ", "), dir))
	track := &pipprogress.Tracker{Step: "python environment", Report: progress}
	env := os.Environ()
	if tool == "uv" {
		env = append(env, uvIndexEnv()...)
	}
	for _, argv := range steps {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		out := &lineWriter{line: track.Line}
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		out.flush()
		if err != nil {
			return core.Errorf(core.ErrInvalidConfig, "creating Python environment failed: %s %s: %v\n%s\ncheck the package names; offline, point PIP_FIND_LINKS at a folder of wheels and set PIP_NO_INDEX=1",
				filepath.Base(argv[0]), strings.Join(argv[1:3], " "), err, tail(out.all.String(), 15))
		}
	}
	progress(core.Progress{Step: track.Step, Message: "ready in " + dir, Finished: true})
	marker, _ := json.MarshalIndent(v, "", "  ")
	return os.WriteFile(filepath.Join(dir, completeMarker), marker, 0o600)
}

// uvIndexEnv translates pip's index settings for uv, so one set of
// variables (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX) serves both. They
// travel in the environment, not as flags: an index URL may hold a password.
// uv's own variables, when set, win.
func uvIndexEnv() []string {
	var env []string
	set := func(uvName, value string) {
		if _, ok := os.LookupEnv(uvName); !ok && value != "" {
			env = append(env, uvName+"="+value)
		}
	}
	set("UV_INDEX_URL", os.Getenv("PIP_INDEX_URL"))
	set("UV_FIND_LINKS", strings.Join(strings.Fields(os.Getenv("PIP_FIND_LINKS")), ","))
	switch strings.ToLower(os.Getenv("PIP_NO_INDEX")) {
	case "", "0", "false", "no", "off":
	default:
		set("UV_NO_INDEX", "1")
	}
	return env
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineWriter keeps a command's output and hands each complete line to line.
type lineWriter struct {
	mu   sync.Mutex
	all  bytes.Buffer
	part []byte
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexAny(w.part, "\r\n")
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.part[:i]))
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.line(string(w.part))
		w.part = nil
	}
}
