package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/sena-labs/sena/core/kernel"
)

// lineBytes is what each printed line adds: 99 x's and a newline.
const lineBytes = 100

// streamResult is what one client reports: text bytes received and the
// seconds from sending the cell to its end.
type streamResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// benchStream has each client, in a process of its own, run a cell printing
// -stream-mb MB and count the text it receives: throughput and peak RSS.
// Sena's client goes through jupyter_server's websocket; jupyter_client
// reads the kernel's ZMQ iopub directly.
func (h *harness) benchStream(ctx context.Context) error {
	s, id, err := h.bareKernel(ctx, "stream")
	if err != nil {
		return err
	}
	defer s.stop()
	lines := h.streamMB * 1_000_000 / lineBytes
	want := int64(lines) * lineBytes
	type series struct{ mbps, rss []float64 }
	var goS, zmqS, wsS series
	for round := 0; round < h.scaled(2, 3); round++ {
		for i := range 3 {
			var r streamResult
			var rss float64
			var err error
			var dst *series
			switch (round + i) % 3 {
			case 0:
				dst = &goS
				rss, err = h.goStream(ctx, s, id, lines, &r)
			case 1:
				dst = &zmqS
				rss, err = h.python3(ctx, []string{"BENCH_JUPYTER_TOKEN=" + s.token}, &r, "stream", "--lines", fmt.Sprint(lines), "--conn", s.connectionFile(id))
			case 2:
				dst = &wsS
				rss, err = h.python3(ctx, []string{"BENCH_JUPYTER_TOKEN=" + s.token}, &r, "stream", "--lines", fmt.Sprint(lines), "--ws", s.url, "--kernel", id)
			}
			if err == nil && r.Bytes != want {
				err = fmt.Errorf("client %d received %d bytes of text, want %d", (round+i)%3, r.Bytes, want)
			}
			if err != nil {
				return err
			}
			dst.mbps = append(dst.mbps, float64(r.Bytes)/1e6/r.Seconds)
			dst.rss = append(dst.rss, rss)
			h.sample("stream client %d: %.1f MB/s, peak RSS %.0f MiB", (round+i)%3, float64(r.Bytes)/1e6/r.Seconds, rss)
		}
	}
	name := fmt.Sprintf("stream %d MB of prints: throughput", h.streamMB)
	h.add(&row{metric: name, unit: "MB/s", sena: goS.mbps, base: zmqS.mbps, baseName: "jupyter_client (ZMQ)", higherBetter: true})
	h.add(&row{metric: name, unit: "MB/s", sena: goS.mbps, base: wsS.mbps, baseName: "Python websocket (tornado)", higherBetter: true})
	h.add(&row{metric: "stream: client peak RSS", unit: "MiB", sena: goS.rss, base: zmqS.rss, baseName: "jupyter_client (ZMQ)"})
	h.add(&row{metric: "stream: client peak RSS", unit: "MiB", sena: goS.rss, base: wsS.rss, baseName: "Python websocket (tornado)"})
	return nil
}

// goStream runs the harness itself as a stream child and returns its peak RSS.
func (h *harness) goStream(ctx context.Context, s *bareServer, id string, lines int, r *streamResult) (float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, self, "-child", "stream", s.url, id, strconv.Itoa(lines))
	cmd.Env = append(os.Environ(), "BENCH_JUPYTER_TOKEN="+s.token, tagVar+"="+h.tag+"go-stream")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("stream child: %v", err)
	}
	if err := json.Unmarshal(out, r); err != nil {
		return 0, fmt.Errorf("stream child printed %q: %v", out, err)
	}
	return maxRSS(cmd), nil
}

// streamClient is the "stream" child: args URL KERNEL LINES. It decodes
// every stream event's text, as a consumer would, and counts it.
func streamClient(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("stream: want URL KERNEL LINES")
	}
	lines, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	ctx := context.Background()
	srv, err := kernel.NewServer(args[0], os.Getenv("BENCH_JUPYTER_TOKEN"))
	if err != nil {
		return err
	}
	k, err := srv.Connect(ctx, args[1])
	if err != nil {
		return err
	}
	defer k.Close()
	if _, err := k.Execute(ctx, "1+1", nil); err != nil {
		return err
	}
	var r streamResult
	onEvent := func(e kernel.Event) {
		if e.Type != "stream" {
			return
		}
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(e.Content, &c) == nil {
			r.Bytes += int64(len(c.Text))
		}
	}
	t0 := time.Now()
	res, err := k.Execute(ctx, fmt.Sprintf("for _ in range(%d):\n    print('x'*99)", lines), &kernel.ExecuteOptions{OnEvent: onEvent})
	if err != nil {
		return err
	}
	if res.Status != "ok" {
		return fmt.Errorf("stream cell: status %q", res.Status)
	}
	r.Seconds = time.Since(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(r)
}
