//go:build unix

package modal

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// The sena binary against the fake, as a user runs it: what happens to a
// sandbox when sena dies or its terminal closes during `up`.

var (
	senaOnce sync.Once
	senaPath string
	senaErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if senaPath != "" {
		os.RemoveAll(filepath.Dir(senaPath))
	}
	os.Exit(code)
}

// senaBinary builds cmd/sena once per test binary.
func senaBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the sena binary")
	}
	senaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sena-modal-test")
		if err != nil {
			senaErr = err
			return
		}
		senaPath = filepath.Join(dir, "sena")
		if out, err := exec.Command("go", "build", "-o", senaPath, "../../cmd/sena").CombinedOutput(); err != nil {
			senaErr = &buildError{err: err, out: string(out)}
		}
	})
	if senaErr != nil {
		t.Fatalf("build sena: %v", senaErr)
	}
	return senaPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// senaCmd is `sena --provider modal ARGS` with its own state dir, reaching
// the fake through the environment Start set.
func senaCmd(t *testing.T, state string, args ...string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(senaBinary(t), append([]string{"--provider", "modal", "--state-dir", state}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CACHE_HOME="+t.TempDir())
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

// upUntil starts `sena up` and waits until cond holds on the fake.
func upUntil(t *testing.T, fake *fakemodal.Server, state string, what string, cond func() bool) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	up, out := senaCmd(t, state, "up", "--timeout", "20m")
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Process.Kill(); _ = up.Wait() })
	waitUntil(t, 60*time.Second, what+"; sena said:\n"+out.String(), cond)
	return up, out
}

// Issue 15 #8: a closed terminal (SIGHUP) during the long wait for the
// tunnel is treated like Ctrl-C: sena stops the sandbox before it exits.
func TestSIGHUPDuringUpStopsTheSandbox(t *testing.T) {
	fake := fakemodal.Start(t)
	fake.SetTunnelTimeouts(1 << 30) // the GPU never comes
	up, out := upUntil(t, fake, t.TempDir(), "no sandbox started", func() bool { return len(fake.Running()) == 1 })
	sandbox := fake.Running()[0]
	waitUntil(t, 30*time.Second, "sena never waited for the tunnel", func() bool { return len(fake.Calls("SandboxGetTunnels")) > 0 })
	if err := up.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sena still runs 30 s after SIGHUP:\n%s", out.String())
	}
	if _, running, _ := fake.SandboxState(sandbox); running {
		t.Errorf("the sandbox still runs after sena got SIGHUP:\n%s", out.String())
	}
}

// Issue 15 #5: kill -9 of sena right after Modal created the sandbox and
// before it was tagged, then `sena gc`: gc finds it by its name and stops it.
func TestKilledUpThenGCStopsTheSandbox(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*fakemodal.Server)
	}{
		{"before its tags", func(f *fakemodal.Server) { f.Stall("SandboxTagsSet", time.Hour) }},
		{"waiting for its tunnel", func(f *fakemodal.Server) { f.SetTunnelTimeouts(1 << 30) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := fakemodal.Start(t)
			tc.fault(fake)
			state := t.TempDir()
			up, out := upUntil(t, fake, state, "no sandbox started", func() bool {
				return len(fake.Running()) == 1 && len(fake.Calls("SandboxTagsSet")) > 0
			})
			sandbox := fake.Running()[0]
			tags, _, _ := fake.SandboxState(sandbox)
			if err := up.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = up.Wait()
			if _, running, _ := fake.SandboxState(sandbox); !running {
				t.Fatalf("the sandbox stopped without gc; the test proves nothing:\n%s", out.String())
			}
			t.Logf("killed sena with sandbox %s tagged %v", sandbox, tags)
			gc, gcOut := senaCmd(t, state, "gc")
			if err := gc.Run(); err != nil {
				t.Fatalf("sena gc: %v\n%s", err, gcOut.String())
			}
			if _, running, _ := fake.SandboxState(sandbox); running {
				t.Errorf("sena gc left sandbox %s running; it said:\n%s", sandbox, gcOut.String())
			}
			if !bytes.Contains([]byte(gcOut.String()), []byte("removed")) {
				t.Errorf("sena gc did not report the removal:\n%s", gcOut.String())
			}
		})
	}
}
