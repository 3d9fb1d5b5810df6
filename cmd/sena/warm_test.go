package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// lsRows is `sena ls --json`, checked against its schema.
func (c *senaCLI) lsRows(t *testing.T, s schemas) []map[string]any {
	t.Helper()
	r := c.ok("--json", "ls")
	s.check(t, "ls", r.stdout)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// num is a JSON number as the schema check decodes it (json.Number) or as
// encoding/json does (float64).
func num(v any) float64 {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case float64:
		return n
	}
	return -1
}

// poolRow is the pool's own row in ls (nil when it is not listed).
func poolRowOf(rows []map[string]any, id string) map[string]any {
	for _, r := range rows {
		if r["session_id"] == id && r["keeper"] != nil {
			return r
		}
	}
	return nil
}

// waitFor polls ls until ok holds, failing after limit.
func (c *senaCLI) waitFor(t *testing.T, s schemas, limit time.Duration, what string, ok func([]map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		rows := c.lsRows(t, s)
		if ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; ls: %v", what, limit, rows)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// warmIDs are the pool's warm sandboxes as its ls row lists them.
func warmIDs(row map[string]any) []string {
	var out []string
	if row == nil {
		return nil
	}
	for _, v := range row["keeper"].(map[string]any)["warm"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// TestWarmPool drives warm pools through the real binary on the local
// provider: refusals up front, a pool filled, a session handed over with
// its env and secret (the secret on no disk, the notebook clean), the
// refill, a non-matching config starting cold, MCP start_session taking a
// warm sandbox, the keeper killed with kill -9 and nothing unseen, warm
// --stop, --count with the idle TTL ending a pool, and down --all.
func TestWarmPool(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	s := loadSchemas(t)
	const secret = "warm-s3cret-0xFEED"
	c.env = []string{"SENA_WARM_SECRET=" + secret}

	t.Run("refused up front", func(t *testing.T) {
		for _, args := range [][]string{
			{"warm", "x"},
			{"warm", "--python", py, "--count", "0"},
			{"warm", "--python", py, "--env", "A=1"},
			{"warm", "--python", py, "--secret", "SENA_WARM_SECRET"},
			{"warm", "--python", py, "--init", "x = 1"},
			{"warm", "--python", py, "--mode", "cli"},
			{"warm", "--python", py, "--library", "helpers.py"},
			{"warm", "--python", py, "--skill", "steering"},
			{"warm", "--python", py, "--timeout", "10s"},
			{"warm", "--stop", "--python", py, "--count", "2"},
			{"warm", "--stop", "--python", py, "--timeout", "5m"},
			{"warm", "--stop", "--python", py, "--accept-cost"},
			{"warm", "--provider", "modal", "--gpu", "H100"},
		} {
			r := c.run(append([]string{"--json"}, args...)...)
			if r.code != 2 {
				t.Errorf("sena %v: exit %d, want 2\n%s%s", args, r.code, r.stdout, r.stderr)
			}
			s.check(t, "error", r.stdout)
			if args[1] == "--provider" && (!strings.Contains(r.stderr, "--accept-cost") || !strings.Contains(r.stderr, "$")) {
				t.Errorf("a Modal pool without --accept-cost: %q, want the cost and the flag named", r.stderr)
			}
		}
		if rows := c.lsRows(t, s); len(rows) != 0 {
			t.Errorf("a refused warm left %v", rows)
		}
		// --accept-cost lets a billed pool past the gate (dry run: nothing starts).
		r := c.ok("--dry-run", "warm", "--provider", "modal", "--gpu", "H100", "--count", "2", "--timeout", "30m", "--accept-cost")
		var dry struct {
			Count int `json:"count"`
			Cost  struct {
				PoolHour float64 `json:"pool_hour_usd"`
				Lifetime float64 `json:"lifetime_usd"`
			} `json:"cost"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil || dry.Count != 2 || dry.Cost.PoolHour < 7 || dry.Cost.Lifetime != dry.Cost.PoolHour/2 {
			t.Errorf("dry run of a Modal pool: %s (%v)", r.stdout, err)
		}
		// -f: the file's environment makes the pool; its per-session keys are left to up.
		file := filepath.Join(t.TempDir(), "sena.yaml")
		os.WriteFile(file, []byte("python: "+py+"\npython_packages: [pip]\nenv: {A: \"1\"}\n"), 0o600)
		r = c.ok("--dry-run", "warm", "-f", file)
		s.check(t, "warm-dry-run", r.stdout)
		var fromFile struct {
			Config struct {
				Packages []string          `json:"python_packages"`
				Env      map[string]string `json:"env"`
			} `json:"config"`
			Ignored []string `json:"per_session_ignored"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &fromFile); err != nil || !slices.Equal(fromFile.Config.Packages, []string{"pip"}) ||
			fromFile.Config.Env != nil || !slices.Equal(fromFile.Ignored, []string{"env"}) {
			t.Errorf("warm -f %s: %s (%v)", file, r.stdout, err)
		}
	})

	// Pool A: one warm sandbox, lifetime 10 minutes.
	before := time.Now()
	r := c.ok("--json", "warm", "--python", py, "--timeout", "10m")
	w := s.check(t, "warm", r.stdout)
	poolID := w["pool_id"].(string)
	if ws := w["warm"].([]any); len(ws) != 1 || num(w["count"]) != 1 || len(w["fill_phases"].([]any)) == 0 {
		t.Fatalf("warm: %v", w)
	}
	warmID := w["warm"].([]any)[0].(string)
	if exp, _ := time.Parse(time.RFC3339Nano, w["expires_at"].(string)); exp.Before(before.Add(10*time.Minute)) || exp.After(time.Now().Add(10*time.Minute)) {
		t.Errorf("expires_at %v: want 10m from the warm", exp)
	}

	t.Run("ls shows the pool and its sandbox", func(t *testing.T) {
		// ls inspects each sandbox live: a server slow to answer on a loaded
		// host reads stopped for a moment, so poll a little.
		rows := c.waitFor(t, s, 15*time.Second, "the warm sandbox shows warm", func(rows []map[string]any) bool {
			for _, row := range rows {
				if row["session_id"] == warmID && row["status"] == "warm" {
					return true
				}
			}
			return false
		})
		p := poolRowOf(rows, poolID)
		if p == nil || p["status"] != "warm" || !p["keeper"].(map[string]any)["alive"].(bool) {
			t.Fatalf("ls: pool %s not listed warm with a live keeper: %v", poolID, rows)
		}
		found := false
		for _, row := range rows {
			if row["session_id"] == warmID {
				found = row["status"] == "warm" && row["pool"] == poolID
			}
		}
		if !found {
			t.Errorf("ls: warm sandbox %s not listed warm in pool %s: %v", warmID, poolID, rows)
		}
		if r := c.ok("ls"); !strings.Contains(r.stdout, poolID) || !strings.Contains(r.stdout, "warm") {
			t.Errorf("ls text: %s", r.stdout)
		}
	})

	var taken string
	t.Run("up takes it", func(t *testing.T) {
		r := c.ok("--json", "up", "--python", py, "--env", "GREETING=hi", "--secret", "SENA_WARM_SECRET", "--timeout", "5m")
		u := s.check(t, "up", r.stdout)
		taken = u["session_id"].(string)
		var phases []string
		for _, p := range u["phases"].([]any) {
			phases = append(phases, p.(map[string]any)["name"].(string))
		}
		if taken != warmID || u["from_pool"] != true || u["warm"].(map[string]any)["pool"] != poolID || !slices.Contains(phases, "handed_over") {
			t.Fatalf("up did not take warm sandbox %s: %v", warmID, u)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(secret)))
		code := `import os, hashlib; print(os.environ["GREETING"], hashlib.sha256(os.environ["SENA_WARM_SECRET"].encode()).hexdigest() == "` + sum + `")`
		if out := c.ok("exec", taken, code).stdout; !strings.Contains(out, "hi True") {
			t.Errorf("the session's env and secret in the kernel: %q", out)
		}
		nbFile := filepath.Join(t.TempDir(), "nb.ipynb")
		c.ok("notebook", taken, "-o", nbFile)
		var nb struct {
			Cells []struct {
				Source any `json:"source"`
			} `json:"cells"`
		}
		data, _ := os.ReadFile(nbFile)
		if err := json.Unmarshal(data, &nb); err != nil || len(nb.Cells) != 1 {
			t.Errorf("notebook: want only the cell run here (the warm-up is not in it), got %s", data)
		}
		if files := filesWith(t, c.state, secret); len(files) > 0 {
			t.Errorf("the secret's value is written in %v", files)
		}
	})

	refilled := func(not ...string) string {
		t.Helper()
		rows := c.waitFor(t, s, 2*time.Minute, "the keeper refills", func(rows []map[string]any) bool {
			ids := warmIDs(poolRowOf(rows, poolID))
			return len(ids) == 1 && !slices.Contains(not, ids[0])
		})
		return warmIDs(poolRowOf(rows, poolID))[0]
	}
	second := refilled(warmID)

	t.Run("another config starts cold", func(t *testing.T) {
		u := s.check(t, "up", c.ok("--json", "up", "--python", py, "--cpus", "1").stdout)
		if u["from_pool"] != false || u["session_id"] == second {
			t.Errorf("an up with --cpus 1 took a warm sandbox: %v", u)
		}
		c.ok("down", u["session_id"].(string))
	})

	t.Run("MCP start_session takes it", func(t *testing.T) {
		res := mcpCall(t, c, "start_session", map[string]any{"python": py})
		if res["from_pool"] != true || res["session_id"] != second || res["pool"] != poolID {
			t.Errorf("start_session: %v, want warm sandbox %s of pool %s", res, second, poolID)
		}
	})
	third := refilled(warmID, second)

	t.Run("keeper killed with kill -9", func(t *testing.T) {
		pid := int(num(poolRowOf(c.lsRows(t, s), poolID)["keeper"].(map[string]any)["pid"]))
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		rows := c.waitFor(t, s, 30*time.Second, "the pool shows abandoned", func(rows []map[string]any) bool {
			p := poolRowOf(rows, poolID)
			return p != nil && p["status"] == "abandoned"
		})
		if !slices.Contains(warmIDs(poolRowOf(rows, poolID)), third) {
			t.Errorf("the warm sandbox %s of a dead keeper is not listed: %v", third, rows)
		}
		// warm again gives the pool a keeper; it is full, so it returns at once.
		w := s.check(t, "warm", c.ok("--json", "warm", "--python", py, "--timeout", "10m").stdout)
		if int(num(w["keeper_pid"])) == pid || !slices.Contains(warmIDs(map[string]any{"keeper": map[string]any{"warm": w["warm"]}}), third) {
			t.Errorf("warm after kill -9 (old keeper %d, warm %s): %v", pid, third, w)
		}
	})

	t.Run("warm --stop", func(t *testing.T) {
		pid := int(num(poolRowOf(c.lsRows(t, s), poolID)["keeper"].(map[string]any)["pid"]))
		w := s.check(t, "warm", c.ok("--json", "warm", "--stop", "--python", py).stdout)
		if st := w["stopped"].([]any); len(st) != 1 || st[0] != third {
			t.Errorf("warm --stop stopped %v, want [%s]", st, third)
		}
		c.waitFor(t, s, 30*time.Second, "the keeper exits", func([]map[string]any) bool { return syscall.Kill(pid, 0) != nil })
		for _, row := range c.lsRows(t, s) {
			if row["keeper"] != nil || row["status"] == "warm" {
				t.Errorf("after warm --stop: %v", row)
			}
		}
		if r := c.run("warm", "--stop", "--python", py); r.code != 1 {
			t.Errorf("warm --stop of no pool: exit %d, want 1", r.code)
		}
		c.ok("down", "--all")
		assertNoLocalSandboxes(t, c)
	})

	t.Run("count and idle TTL", func(t *testing.T) {
		w := s.check(t, "warm", c.ok("--json", "warm", "--python", py, "--count", "2", "--idle-timeout", "30s").stdout)
		if len(w["warm"].([]any)) != 2 || w["idle_timeout"] != "30s" {
			t.Fatalf("warm --count 2: %v", w)
		}
		c.waitFor(t, s, 90*time.Second, "the idle pool ends", func(rows []map[string]any) bool { return len(rows) == 0 })
		assertNoLocalSandboxes(t, c)
	})

	t.Run("gc after the keeper's kill -9", func(t *testing.T) {
		w := s.check(t, "warm", c.ok("--json", "warm", "--python", py).stdout)
		if err := syscall.Kill(int(num(w["keeper_pid"])), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, s, 30*time.Second, "the pool shows abandoned", func(rows []map[string]any) bool {
			p := poolRowOf(rows, w["pool_id"].(string))
			return p != nil && p["status"] == "abandoned"
		})
		s.check(t, "gc", c.ok("--json", "gc").stdout)
		if rows := c.lsRows(t, s); len(rows) != 0 {
			t.Errorf("after gc: %v", rows)
		}
		assertNoLocalSandboxes(t, c)
	})

	t.Run("down --all", func(t *testing.T) {
		w := s.check(t, "warm", c.ok("--json", "warm", "--python", py).stdout)
		d := s.check(t, "down", c.ok("--json", "down", "--all").stdout)
		pools := d["pools"].([]any)
		if len(pools) != 1 || pools[0].(map[string]any)["pool_id"] != w["pool_id"] || len(pools[0].(map[string]any)["sandboxes"].([]any)) != 1 {
			t.Errorf("down --all: %v", d)
		}
		if rows := c.lsRows(t, s); len(rows) != 0 {
			t.Errorf("after down --all: %v", rows)
		}
		assertNoLocalSandboxes(t, c)
	})
}

// mcpCall runs `sena mcp` over stdio, calls one tool and returns its
// structured result.
func mcpCall(t *testing.T, c *senaCLI, tool string, args map[string]any) map[string]any {
	t.Helper()
	cmd := exec.Command(senaBin, "--state-dir", c.state, "mcp")
	cmd.Env = append(os.Environ(), c.env...)
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	send := func(v any) {
		b, _ := json.Marshal(v)
		in.Write(append(b, '\n'))
	}
	send(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "warm-test", "version": "0"}}})
	send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	send(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": tool, "arguments": args}})
	sc := bufio.NewScanner(outPipe)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var msg struct {
			ID     any `json:"id"`
			Result struct {
				IsError    bool           `json:"isError"`
				Structured map[string]any `json:"structuredContent"`
				Content    any            `json:"content"`
			} `json:"result"`
			Error any `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil || msg.ID != float64(2) {
			continue
		}
		if msg.Error != nil || msg.Result.IsError {
			t.Fatalf("%s: %s", tool, sc.Text())
		}
		return msg.Result.Structured
	}
	t.Fatalf("%s: no answer (%v)", tool, sc.Err())
	return nil
}

// filesWith lists the files under dir that contain s.
func filesWith(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), s) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
