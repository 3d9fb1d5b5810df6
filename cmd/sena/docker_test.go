package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sena-labs/sena/hub/hubtest"
)

// testImage builds (or reuses) the CPU test image, or skips without Docker.
func testImage(t *testing.T) string {
	t.Helper()
	if exec.Command("docker", "info").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: no Docker engine answers (images/ci-docker-up.sh starts one)")
		}
		t.Skip("no Docker engine")
	}
	out, err := exec.Command("../../images/build-test-image").Output()
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// TestDockerModelAndSkill: on the docker provider, --model mounts the
// host's cache read-only and sets the model's path inside the container,
// and a built-in skill lands on sys.path.
func TestDockerModelAndSkill(t *testing.T) {
	image := testImage(t)
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	c := newCLI(t)
	c.env = []string{"HF_ENDPOINT=" + hubSrv.URL, "HF_HUB_CACHE=" + t.TempDir()}
	u := c.up("--provider", "docker", "--image", image, "--model", "sena-test/tiny-llama", "--skill", "activations")
	check := func(code, want string) {
		t.Helper()
		r := c.run("exec", u.SessionID, code)
		if got := strings.TrimSpace(r.stdout + r.stderr); !strings.Contains(got, want) {
			t.Fatalf("%s\nprinted %q, want %q", code, got, want)
		}
	}
	check("import os; p = os.environ['MODEL_SENA_TEST_TINY_LLAMA_PATH']; print(p.startswith('/sena/hf-cache/'), os.path.exists(p + '/config.json'))", "True True")
	check("import os; open(os.environ['MODEL_SENA_TEST_TINY_LLAMA_PATH'] + '/x', 'w')", "Read-only file system")
	check("import sys; print(any(p.endswith('skills/activations') for p in sys.path))", "True")
	c.ok("down", u.SessionID)
}
