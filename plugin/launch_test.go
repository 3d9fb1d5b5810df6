package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/plugin"
	"github.com/sena-labs/sena/plugin/internal/fakeprovider"
)

// The test plugins are built once, on first use, into binDir as
// sena-provider-NAME; TestMain removes them.
var (
	binDir   string
	buildErr error
	build    sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildPlugins() (string, error) {
	dir, err := os.MkdirTemp("", "sena-plugin-test-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./internal/testplugins/...")
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("build test plugins: %v\n%s", err, out)
	}
	for _, name := range []string{"good", "panicky", "sleeper", "wrongcookie"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, plugin.FilePrefix+name)); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// pluginPath is the path of the built test plugin NAME.
func pluginPath(t *testing.T, name string) string {
	t.Helper()
	build.Do(func() { binDir, buildErr = buildPlugins() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, plugin.FilePrefix+name)
}

func launch(t *testing.T, path string, opts *plugin.LaunchOptions) *plugin.Client {
	t.Helper()
	c, err := plugin.Launch(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestLaunchedPluginServesEveryRPC(t *testing.T) {
	// The host's variables stay out of a plugin unless named: in PassEnv
	// or in SENA_PLUGIN_ENV.
	t.Setenv(fakeprovider.EnvDescription, "from the host environment")
	logs := &recorder{}
	for _, tc := range []struct {
		name    string
		pass    []string
		global  string
		reaches bool
	}{
		{"unnamed", nil, "", false},
		{"PassEnv", []string{fakeprovider.EnvDescription}, "", true},
		{plugin.EnvPassVar, nil, "OTHER, " + fakeprovider.EnvDescription, true},
	} {
		t.Setenv(plugin.EnvPassVar, tc.global)
		c := launch(t, pluginPath(t, "good"), &plugin.LaunchOptions{Logger: slog.New(logs), PassEnv: tc.pass})
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Description == "from the host environment"; got != tc.reaches {
			t.Errorf("%s: Info.Description = %q; the variable should reach the plugin: %v", tc.name, info.Description, tc.reaches)
		}
	}
	t.Setenv(fakeprovider.EnvDescription, "") // checkScripted wants the default Info
	c2 := launch(t, pluginPath(t, "good"), &plugin.LaunchOptions{Logger: slog.New(logs)})
	checkScripted(t, c2)

	if c2.Name() != "good" {
		t.Errorf("Name() = %q, want good", c2.Name())
	}
	// The plugin logged through Serve's logger; the host gets it at its level.
	if !logs.has(slog.LevelWarn, "fake create", "session", "sess-42") {
		t.Errorf("the plugin's warning did not reach the host logger; got:\n%s", logs)
	}
}

func TestCancellationReachesPluginProcess(t *testing.T) {
	c := launch(t, pluginPath(t, "good"), nil)
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Create(ctx, &core.CreateRequest{SessionID: fakeprovider.SessionHang, WorkDir: work})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, core.ErrPluginFailed) {
		t.Fatalf("Create = %v, want context.DeadlineExceeded and core.ErrPluginFailed", err)
	}
	want := fmt.Sprintf("provider plugin good (%s) did not answer Create before its deadline", pluginPath(t, "good"))
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	waitFor(t, "the provider in the plugin to see its context cancelled", func() bool {
		_, err := os.Stat(filepath.Join(work, fakeprovider.CancelledFile))
		return err == nil
	})
}

func TestPluginCrashIsPluginFailure(t *testing.T) {
	path := pluginPath(t, "panicky")
	c := launch(t, path, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Create(ctx, fakeprovider.CreateRequest())
	if !errors.Is(err, core.ErrPluginFailed) {
		t.Fatalf("Create = %v, want core.ErrPluginFailed", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("Create took %v: the crash was not noticed", time.Since(start))
	}
	for _, want := range []string{
		fmt.Sprintf("provider plugin panicky (%s) exited unexpectedly during Create", path),
		"panic: fake provider: boom",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	// Later calls fail the same way, at once.
	if _, err := c.Info(ctx); !errors.Is(err, core.ErrPluginFailed) || !strings.Contains(err.Error(), "exited unexpectedly") {
		t.Errorf("Info after the crash = %v, want the plugin reported as exited", err)
	}
}

func TestClosedPluginCallsFail(t *testing.T) {
	c := launch(t, pluginPath(t, "good"), nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(context.Background()); !errors.Is(err, core.ErrPluginFailed) {
		t.Errorf("Info after Close = %v, want core.ErrPluginFailed", err)
	}
}

// launchFails launches path, which must fail with core.ErrPluginFailed,
// naming the path, with every wanted text, well within the StartTimeout.
func launchFails(t *testing.T, ctx context.Context, path string, timeout time.Duration, wants ...string) {
	t.Helper()
	start := time.Now()
	c, err := plugin.Launch(ctx, path, &plugin.LaunchOptions{StartTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
		t.Fatalf("Launch(%s) succeeded, want an error", path)
	}
	if !errors.Is(err, core.ErrPluginFailed) {
		t.Errorf("Launch error %v does not wrap core.ErrPluginFailed", err)
	}
	if elapsed > timeout+3*time.Second {
		t.Errorf("Launch took %v with StartTimeout %v", elapsed, timeout)
	}
	for _, want := range append(wants, path) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Launch error %q lacks %q", err, want)
		}
	}
}

func TestLaunchRejectsNonPlugins(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		path := filepath.Join(dir, plugin.FilePrefix+name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ctx := context.Background()
	t.Run("never handshakes", func(t *testing.T) {
		launchFails(t, ctx, pluginPath(t, "sleeper"), time.Second, "did not complete the handshake within 1s")
	})
	t.Run("shell script", func(t *testing.T) {
		launchFails(t, ctx, script("bogus", "echo 'hello from a script'\n"), 5*time.Second,
			"is not a working Sena provider plugin", "hello from a script")
	})
	t.Run("shell script whose child holds its output open", func(t *testing.T) {
		launchFails(t, ctx, script("sleepy", "sleep 60\n"), time.Second, "within 1s")
	})
	t.Run("shell script that fails", func(t *testing.T) {
		launchFails(t, ctx, script("fails", "echo 'missing credentials' >&2; exit 3\n"), 5*time.Second,
			"exited before the handshake", "missing credentials")
	})
	t.Run("plugin of another application", func(t *testing.T) {
		launchFails(t, ctx, pluginPath(t, "wrongcookie"), 5*time.Second,
			"exited before the handshake", "This binary is a plugin")
	})
	t.Run("not executable", func(t *testing.T) {
		path := filepath.Join(dir, plugin.FilePrefix+"noexec")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		launchFails(t, ctx, path, time.Second, "is not executable; run chmod +x")
	})
	t.Run("missing", func(t *testing.T) {
		launchFails(t, ctx, filepath.Join(dir, "sena-provider-nowhere"), time.Second, "does not exist")
	})
	t.Run("context ends first", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		launchFails(t, ctx, pluginPath(t, "sleeper"), time.Second, "did not start")
	})
}

func TestPluginRunByHandExplains(t *testing.T) {
	out, err := exec.Command(pluginPath(t, "good")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is a Sena provider plugin: sena starts it") {
		t.Errorf("running the plugin by hand: %v, %q; want an exit with an explanation", err, out)
	}
}

func TestDiscoverFindsRenamedPlugin(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	copyFile(t, pluginPath(t, "good"), filepath.Join(first, plugin.FilePrefix+"other"), 0o755)
	copyFile(t, pluginPath(t, "sleeper"), filepath.Join(second, plugin.FilePrefix+"other"), 0o755) // shadowed
	copyFile(t, pluginPath(t, "sleeper"), filepath.Join(second, plugin.FilePrefix+"extra"), 0o755)
	copyFile(t, pluginPath(t, "good"), filepath.Join(first, plugin.FilePrefix+"noexec"), 0o644)
	if err := os.Mkdir(filepath.Join(second, plugin.FilePrefix+"adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, pluginPath(t, "good"), filepath.Join(first, "README"), 0o755)

	found, errs := plugin.Discover([]string{first, filepath.Join(first, "missing"), second})
	want := map[string]string{
		"other": filepath.Join(first, plugin.FilePrefix+"other"),
		"extra": filepath.Join(second, plugin.FilePrefix+"extra"),
	}
	if fmt.Sprint(found) != fmt.Sprint(want) {
		t.Errorf("Discover = %v, want %v", found, want)
	}
	if len(errs) != 2 || !strings.Contains(fmt.Sprint(errs), "noexec is not executable; run chmod +x") ||
		!strings.Contains(fmt.Sprint(errs), "adir is a directory") {
		t.Errorf("Discover errors = %v, want one for noexec and one for adir", errs)
	}

	c := launch(t, found["other"], nil)
	if c.Name() != "other" {
		t.Errorf("Name() = %q, want other", c.Name())
	}
	if info, err := c.Info(context.Background()); err != nil || info.Name != "fake" {
		t.Errorf("Info = %+v, %v", info, err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// has reports whether a record has this level, message and attribute.
func (r *recorder) has(level slog.Level, msg, key, value string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Level != level || rec.Message != msg {
			continue
		}
		found := false
		rec.Attrs(func(a slog.Attr) bool {
			found = found || a.Key == key && a.Value.String() == value
			return !found
		})
		if found {
			return true
		}
	}
	return false
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.records {
		fmt.Fprintf(&b, "%s %q\n", rec.Level, rec.Message)
	}
	return b.String()
}
