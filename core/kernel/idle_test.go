package kernel_test

import (
	"context"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// Sena's idle rule, as every provider launches the server: it stops once no
// kernel has been busy or produced output for the idle timeout, even with a
// client connected to the kernel (jupyter_server's own culler skips
// connected kernels); a long cell without output is activity.
func TestIdleTimeoutIgnoresConnectedClients(t *testing.T) {
	const idle = 6 * time.Second
	for _, py := range jupytertest.Interpreters(t) {
		t.Run(py.Name, func(t *testing.T) {
			t.Parallel()
			t.Run("ConnectedButIdle", func(t *testing.T) {
				t.Parallel()
				srv := jupytertest.StartLaunched(t, py.Path, idle)
				k := connectKernel(t, srv)
				defer k.Close()
				start := time.Now()
				waitExit(t, srv, 30*time.Second)
				if d := time.Since(start); d < idle-time.Second {
					t.Fatalf("stopped after %s, before the idle timeout %s", d, idle)
				}
			})
			t.Run("BusyWithoutOutput", func(t *testing.T) {
				t.Parallel()
				srv := jupytertest.StartLaunched(t, py.Path, idle)
				k := connectKernel(t, srv)
				defer k.Close()
				res, err := k.Execute(context.Background(), "import time; time.sleep(14)", nil)
				if err != nil || res.Status != "ok" {
					t.Fatalf("a 14 s cell under a 6 s idle timeout: %+v %v (the server stopped a busy kernel)", res, err)
				}
				waitExit(t, srv, 30*time.Second)
			})
		})
	}
}

func connectKernel(t *testing.T, srv *jupytertest.Server) *kernel.Kernel {
	t.Helper()
	s, err := kernel.NewServer(srv.URL, srv.Token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := s.StartSession(ctx, "idle.ipynb", "python3")
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Connect(ctx, js.Kernel.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Info(ctx); err != nil {
		t.Fatal(err)
	}
	return k
}

func waitExit(t *testing.T, srv *jupytertest.Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !srv.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the server still runs %s past its idle timeout with no kernel activity", within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
