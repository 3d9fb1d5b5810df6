package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
	"github.com/sena-labs/sena/core/notebook/nbtest"
	"github.com/sena-labs/sena/hub/hubtest"
)

// TestMCPWithPythonClient drives `sena mcp` over stdio with the official
// Python MCP SDK (a client that is not ours) against a real local sandbox:
// an agent's investigation of a tiny random Llama through every tool.
func TestMCPWithPythonClient(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	client := pythonWith(t, "mcp")
	if exec.Command(py, "-c", "import torch, transformers").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %s lacks torch/transformers", py)
		}
		t.Skip("no torch/transformers in " + py)
	}
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/tiny-llama", "main", hubtest.TinyLlama())
	c := newCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, filepath.Join("testdata", "mcp_client.py"), senaBin, c.state, py, "sena-test/tiny-llama")
	cmd.Env = append(os.Environ(), "HF_ENDPOINT="+hubSrv.URL, "HF_HUB_CACHE="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python MCP client: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	var res struct {
		NotebookPath string `json:"notebook_path"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client printed %q: %v", out, err)
	}
	nbtest.Validate(t, res.NotebookPath)
	assertNoLocalSandboxes(t, c)
}

// TestMCPConfig checks the client config points at this binary.
func TestMCPConfig(t *testing.T) {
	c := newCLI(t)
	r := c.ok("mcp", "config")
	var cfg struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cfg); err != nil {
		t.Fatalf("mcp config printed %q: %v", r.stdout, err)
	}
	s := cfg.MCPServers["sena"]
	want, _ := filepath.EvalSymlinks(senaBin)
	if s.Command != want || strings.Join(s.Args, " ") != "mcp" || s.Env["SENA_STATE_DIR"] != c.state {
		t.Fatalf("mcp config: %+v", s)
	}
}

// TestMCPHTTPRefusesRemote checks --http stays on loopback unless allowed.
func TestMCPHTTPRefusesRemote(t *testing.T) {
	c := newCLI(t)
	r := c.run("mcp", "--http", "0.0.0.0:0")
	if r.code == 0 || !strings.Contains(r.stderr, "--allow-remote") {
		t.Fatalf("mcp --http 0.0.0.0:0: exit %d, stderr %s", r.code, r.stderr)
	}
}

// pythonWith finds a Python that imports the given modules: skipped
// locally, a failure in CI.
func pythonWith(t *testing.T, modules ...string) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import "+strings.Join(modules, ", ")).Run() == nil {
			return p
		}
	}
	msg := "no Python with " + strings.Join(modules, ", ") + " (pip install mcp matplotlib)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestMCPWithTypeScriptClient drives `sena mcp --http` with the official
// TypeScript MCP SDK over streamable HTTP, the transport a remote agent
// uses: the same kind of investigation, reading everything back over MCP.
func TestMCPWithTypeScriptClient(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	dir, _ := filepath.Abs(filepath.Join("testdata", "ts"))
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil || statErr != nil {
		msg := "no node, or no node_modules in testdata/ts (scripts/setup-test-env runs npm ci there)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if exec.Command(py, "-c", "import torch, transformers").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %s lacks torch/transformers", py)
		}
		t.Skip("no torch/transformers in " + py)
	}
	c := newCLI(t)
	token := "e2e-" + randHex(16) // 36 bytes: sena requires at least 32
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, senaBin, "--state-dir", c.state, "mcp", "--http", "127.0.0.1:0")
	srv.Env = append(os.Environ(), "SENA_MCP_TOKEN="+token, "SENA_PYTHON="+py)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "MCP over streamable HTTP at "); ok {
				urls <- url
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatal("sena mcp --http did not print its URL")
	}
	cmd := exec.CommandContext(ctx, node, "client.mjs", url)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SENA_MCP_TOKEN="+token)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("TypeScript MCP client: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	var res struct {
		NotebookPath string `json:"notebook_path"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client printed %q: %v", out, err)
	}
	nbtest.Validate(t, res.NotebookPath)
	assertNoLocalSandboxes(t, c)
}
