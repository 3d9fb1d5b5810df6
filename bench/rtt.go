package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/sena-labs/sena/core/kernel"
)

// benchRTT times executions of `1+1` on one live kernel, one at a time, by
// Sena's kernel client (Go, over jupyter_server's websocket) against
// jupyter_client's BlockingKernelClient (ZMQ straight to the kernel: what a
// Python user runs, one hop shorter) and against a Python websocket client
// through the same server (the same path as Sena's). One client is
// connected at a time, so none pays for another's iopub traffic.
func (h *harness) benchRTT(ctx context.Context) error {
	s, id, err := h.bareKernel(ctx, "rtt")
	if err != nil {
		return err
	}
	defer s.stop()
	var goT, zmqT, wsT []float64
	for round := 0; round < h.runs; round++ {
		for i := range 3 {
			var xs []float64
			var err error
			switch (round + i) % 3 {
			case 0:
				xs, err = goRTT(ctx, s, id, h.rttIters)
				goT = append(goT, xs...)
			case 1:
				xs, err = h.pyRTT(ctx, s, "--conn", s.connectionFile(id))
				zmqT = append(zmqT, xs...)
			case 2:
				xs, err = h.pyRTT(ctx, s, "--ws", s.url, "--kernel", id)
				wsT = append(wsT, xs...)
			}
			if err != nil {
				return err
			}
			h.sample("rtt client %d: median %.3f ms", (round+i)%3, median(xs))
		}
	}
	h.add(&row{metric: "execute round trip `1+1`", unit: "ms", sena: goT, base: zmqT,
		baseName: "jupyter_client (ZMQ, same kernel)", target: "≤ jupyter_client"})
	h.add(&row{metric: "execute round trip `1+1`", unit: "ms", sena: goT, base: wsT,
		baseName: "Python websocket (tornado, same server)"})
	return nil
}

// bareKernel starts a bare server and a kernel on it, ready to execute.
func (h *harness) bareKernel(ctx context.Context, tag string) (*bareServer, string, error) {
	s, err := startBare(h.resolved, h.tmp, h.tag+tag)
	if err != nil {
		return nil, "", err
	}
	id := ""
	if err = s.waitReady(ctx); err == nil {
		if id, err = s.startKernel(ctx); err == nil {
			err = s.wsExec(ctx, id, "1+1")
		}
	}
	if err != nil {
		s.stop()
		return nil, "", err
	}
	return s, id, nil
}

// goRTT connects Sena's client, warms it up and times n executions.
func goRTT(ctx context.Context, s *bareServer, id string, n int) ([]float64, error) {
	srv, err := kernel.NewServer(s.url, s.token)
	if err != nil {
		return nil, err
	}
	k, err := srv.Connect(ctx, id)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	run := func() error {
		res, err := k.Execute(ctx, "1+1", nil)
		if err == nil && res.Status != "ok" {
			err = fmt.Errorf("1+1: status %q", res.Status)
		}
		return err
	}
	for range 10 {
		if err := run(); err != nil {
			return nil, err
		}
	}
	xs := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		if err := run(); err != nil {
			return nil, err
		}
		xs = append(xs, ms(time.Since(t0)))
	}
	return xs, nil
}

// pyRTT runs pyclient.py rtt with the given client arguments.
func (h *harness) pyRTT(ctx context.Context, s *bareServer, client ...string) ([]float64, error) {
	var out struct{ Seconds []float64 }
	args := append([]string{"rtt", "-n", fmt.Sprint(h.rttIters)}, client...)
	if _, err := h.python3(ctx, []string{"BENCH_JUPYTER_TOKEN=" + s.token}, &out, args...); err != nil {
		return nil, err
	}
	xs := make([]float64, len(out.Seconds))
	for i, v := range out.Seconds {
		xs[i] = v * 1000
	}
	return xs, nil
}

// python3 runs pyclient.py with args and env added to the harness's,
// decodes its JSON line into out and returns the process's peak RSS in MiB.
func (h *harness) python3(ctx context.Context, env []string, out any, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, h.resolved, append([]string{h.script}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), tagVar+"="+h.tag+"py")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("pyclient.py %v: %v", args, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return 0, fmt.Errorf("pyclient.py %v printed %q: %v", args, b, err)
	}
	return maxRSS(cmd), nil
}
