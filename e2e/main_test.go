// Package e2e tests Sena end to end, as a user runs it: the sandbox image
// built with images/build-test-image and served through testcontainers, and
// the real `sena` binary and its docker plugin driving a real Docker engine.
//
// Run with a Docker engine up (images/ci-docker-up.sh) as root (the image
// build uses debootstrap): cd e2e && go test ./... . Without an engine the
// tests skip, except under CI (env CI set), where they fail.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// bin holds the binaries TestMain builds: sena, and plugins/ with the docker
// plugin under a name of its own (sena-provider-dockerplug), so the plugin
// path is exercised rather than the compiled-in provider.
var (
	bin       string
	senaBin   string
	pluginDir string
	buildErr  error
)

// pluginName is the provider name the renamed docker plugin answers to.
const pluginName = "dockerplug"

func TestMain(m *testing.M) {
	// Ryuk's reaper image would be pulled from Docker Hub; there is no
	// registry here, and every test removes what it starts.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// The engine is local, but testcontainers takes this machine for a
	// container (it is one in CI) and would dial the bridge gateway.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	dir, err := os.MkdirTemp("", "sena-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	senaBin = filepath.Join(dir, "sena")
	pluginDir = filepath.Join(dir, "plugins")
	buildErr = buildBinaries()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinaries builds sena and the docker plugin from the repository root.
func buildBinaries() error {
	for _, b := range []struct{ out, pkg string }{
		{senaBin, "./cmd/sena"},
		{filepath.Join(pluginDir, "sena-provider-"+pluginName), "./providers/docker/cmd/sena-provider-docker"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// requireDocker skips the test when no Docker engine answers, except in CI.
func requireDocker(t *testing.T) {
	t.Helper()
	if err := exec.CommandContext(t.Context(), "docker", "info").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a Docker engine (images/ci-docker-up.sh starts one): %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
}

// requireBinaries fails the test when sena or the plugin did not build.
func requireBinaries(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

// testImage builds (or reuses) the CPU test image and returns its reference,
// the last line the script prints.
func testImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		cmd := exec.Command("../images/build-test-image")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			imageErr = fmt.Errorf("images/build-test-image: %v\n%s", err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		imageRef = lines[len(lines)-1]
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageRef
}

// dockerLines runs the docker CLI and returns its non-empty output lines.
func dockerLines(ctx context.Context, t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}
