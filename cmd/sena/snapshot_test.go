package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// TestSnapshot is `sena snapshot`, `sena snapshots` and `sena up
// --from-snapshot` on the local provider: the files the session wrote, a
// package it installed into its environment and its notebook come along;
// names taken or missing, and another provider, are refused.
func TestSnapshot(t *testing.T) {
	py := jupytertest.Interpreters(t)[0].Path
	c := newCLI(t)
	sch := loadSchemas(t)
	u := c.up("--python", py, "--init", "import os")
	c.ok("exec", u.SessionID, `import os, subprocess, sys
os.makedirs('results', exist_ok=True)
open('results/acts.txt', 'w').write('layer 3')
# a module in the session's package environment, as install_packages makes it
env = os.path.abspath('.sena/env')
subprocess.run([sys.executable, '-m', 'venv', '--without-pip', '--system-site-packages', env], check=True)
sp = subprocess.run([env + '/bin/python', '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], capture_output=True, text=True, check=True).stdout.strip()
open(os.path.join(sp, 'snapmod.py'), 'w').write('X = 9\n')`)

	r := c.ok("--json", "snapshot", u.SessionID, "--name", "exp1")
	sch.check(t, "snapshot", r.stdout)
	if r := c.run("snapshot", u.SessionID, "--name", "exp1"); r.code == 0 || !strings.Contains(r.stderr, "exists already") {
		t.Fatalf("a taken name: exit %d, %s", r.code, r.stderr)
	}
	r = c.ok("--json", "snapshots")
	sch.check(t, "snapshots", r.stdout)
	var list []struct{ Name, Session string }
	json.Unmarshal([]byte(r.stdout), &list)
	if len(list) != 1 || list[0].Name != "exp1" || list[0].Session != u.SessionID {
		t.Fatalf("snapshots: %s", r.stdout)
	}
	c.ok("down", u.SessionID)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--python", py, "--from-snapshot", "nope"}, "no snapshot nope"},
		{[]string{"--from-snapshot", "exp1", "--provider", "docker"}, "taken on provider local"},
	} {
		if r := c.run(append([]string{"up"}, bad.args...)...); r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("up %v: exit %d, %s", bad.args, r.code, r.stderr)
		}
	}
	u2 := c.up("--python", py, "--from-snapshot", "exp1")
	if out := c.ok("exec", u2.SessionID, "import snapmod; print(open('results/acts.txt').read(), snapmod.X)"); strings.TrimSpace(out.stdout) != "layer 3 9" {
		t.Fatalf("from the snapshot: %q", out.stdout)
	}
	nb := c.ok("--json", "notebook", u2.SessionID).stdout
	if !strings.Contains(nb, "results/acts.txt") || !strings.Contains(nb, "import os") {
		t.Errorf("the snapshot's notebook did not come along: %.400s", nb)
	}
	c.ok("snapshots", "--delete", "exp1")
	if r := c.ok("--json", "snapshots"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("after delete: %s", r.stdout)
	}
}
