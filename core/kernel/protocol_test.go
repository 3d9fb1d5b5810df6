package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// shortGrace makes the lost-half timer fast for one test.
func shortGrace(t *testing.T) {
	old := replyGrace
	replyGrace = 200 * time.Millisecond
	t.Cleanup(func() { replyGrace = old })
}

// collect runs Execute and returns the stdout it streamed.
func collect(t *testing.T, k *Kernel, ctx context.Context, opts *ExecuteOptions) (*ExecuteResult, string, error) {
	t.Helper()
	if opts == nil {
		opts = &ExecuteOptions{}
	}
	var out strings.Builder
	opts.OnEvent = func(e Event) {
		var c struct{ Text string }
		if e.Type == "stream" && json.Unmarshal(e.Content, &c) == nil {
			out.WriteString(c.Text)
		}
	}
	res, err := k.Execute(ctx, "code", opts)
	return res, out.String(), err
}

func TestExecuteWaitsForReplyAndIdle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(c *fakeConn, req *message)
	}{
		{"ReplyThenIdle", func(c *fakeConn, req *message) {
			c.send("iopub", "status", req, status("busy"))
			c.send("iopub", "stream", req, stdout("a"))
			c.send("shell", "execute_reply", req, okReply(3))
			time.Sleep(100 * time.Millisecond)
			c.send("iopub", "stream", req, stdout("b")) // output after the reply still belongs here
			c.send("iopub", "status", req, status("idle"))
		}},
		{"IdleThenReply", func(c *fakeConn, req *message) {
			c.send("iopub", "status", req, status("busy"))
			c.send("iopub", "stream", req, stdout("ab"))
			c.send("iopub", "status", req, status("idle"))
			time.Sleep(100 * time.Millisecond)
			c.send("shell", "execute_reply", req, okReply(3))
		}},
		{"StrayStatus", func(c *fakeConn, req *message) {
			// Nudges and other clients' requests go idle too; they must not end this call.
			other := &message{Header: header{MsgID: "server-nudge_1_2"}}
			c.send("iopub", "status", other, status("idle"))
			c.send("iopub", "status", nil, status("idle"))
			c.send("shell", "execute_reply", other, okReply(9))
			c.send("iopub", "stream", req, stdout("a"))
			time.Sleep(50 * time.Millisecond)
			c.send("iopub", "stream", req, stdout("b"))
			c.send("shell", "execute_reply", req, okReply(3))
			c.send("iopub", "status", req, status("idle"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, legacy := range []bool{false, true} {
				k := (&fakeKernel{t: t, legacy: legacy, handle: tc.script}).start()
				res, out, err := collect(t, k, context.Background(), nil)
				if err != nil || res.Status != "ok" || res.ExecutionCount != 3 || out != "ab" {
					t.Errorf("legacy=%v: %+v, %q, %v; want ok, count 3, output ab", legacy, res, out, err)
				}
			}
		})
	}
}

func TestLostHalf(t *testing.T) {
	shortGrace(t)
	t.Run("Reply", func(t *testing.T) {
		k := (&fakeKernel{t: t, handle: func(c *fakeConn, req *message) {
			c.send("iopub", "stream", req, stdout("done"))
			c.send("iopub", "status", req, status("idle"))
		}}).start()
		start := time.Now()
		res, out, err := collect(t, k, context.Background(), nil)
		if err != nil || res.Status != "error" || res.EName != "KernelReplyTimeout" || out != "done" {
			t.Errorf("%+v, %q, %v; want a KernelReplyTimeout result with the output", res, out, err)
		}
		if d := time.Since(start); d < replyGrace {
			t.Errorf("returned after %s, before the grace of %s", d, replyGrace)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		k := (&fakeKernel{t: t, handle: func(c *fakeConn, req *message) {
			c.send("shell", "execute_reply", req, map[string]any{"status": "error", "execution_count": 2, "ename": "E", "evalue": "v", "traceback": []string{"tb"}})
		}}).start()
		res, _, err := collect(t, k, context.Background(), nil)
		if err != nil || res.Status != "error" || res.EName != "E" || res.ExecutionCount != 2 {
			t.Errorf("%+v, %v; want the reply's error", res, err)
		}
	})
}

func TestKernelDeath(t *testing.T) {
	for _, tc := range []struct {
		name     string
		news     func(c *fakeConn)
		want     error
		terminal bool
	}{
		{"Restarting", func(c *fakeConn) { c.send("iopub", "status", nil, status("restarting")) }, ErrKernelRestarted, false},
		{"Dead", func(c *fakeConn) { c.send("iopub", "status", nil, status("dead")) }, ErrKernelDead, true},
		{"ShutdownRestart", func(c *fakeConn) {
			c.send("iopub", "shutdown_reply", &message{Header: header{MsgID: "mgr"}}, map[string]any{"status": "ok", "restart": true})
		}, ErrKernelRestarted, false},
		{"Shutdown", func(c *fakeConn) {
			c.send("iopub", "shutdown_reply", &message{Header: header{MsgID: "mgr"}}, map[string]any{"status": "ok", "restart": false})
		}, ErrKernelDead, true},
		{"SocketClosed", func(c *fakeConn) { c.ws.CloseNow() }, ErrConnection, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := true
			k := (&fakeKernel{t: t, handle: func(c *fakeConn, req *message) {
				if first { // the first execution hangs until the news
					first = false
					c.send("iopub", "stream", req, stdout("partial"))
					tc.news(c)
					return
				}
				c.send("shell", "execute_reply", req, okReply(1))
				c.send("iopub", "status", req, status("idle"))
			}}).start()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, out, err := collect(t, k, ctx, nil)
			if !errors.Is(err, tc.want) || out != "partial" || res == nil {
				t.Fatalf("got %+v, %q, %v; want %v with the partial output", res, out, err, tc.want)
			}
			start := time.Now()
			_, _, err = collect(t, k, ctx, nil)
			if tc.terminal && (!errors.Is(err, tc.want) || time.Since(start) > 100*time.Millisecond) {
				t.Errorf("next Execute = %v after %s; want %v at once", err, time.Since(start), tc.want)
			}
			if !tc.terminal && err != nil {
				t.Errorf("next Execute after a restart = %v; want it to work", err)
			}
			if restarted := errors.Is(tc.want, ErrKernelRestarted); (k.Restarts() == 1) != restarted {
				t.Errorf("Restarts() = %d after %s", k.Restarts(), tc.name)
			}
		})
	}
}

func TestInterruptFailed(t *testing.T) {
	interrupted := make(chan struct{}, 1)
	k := (&fakeKernel{t: t,
		handle: func(c *fakeConn, req *message) { c.send("iopub", "stream", req, stdout("working")) },
		onInterrupt: func(*fakeConn) int {
			interrupted <- struct{}{}
			return 204 // accepted, but the kernel ignores it
		},
	}).start()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, out, err := collect(t, k, ctx, &ExecuteOptions{InterruptGrace: 300 * time.Millisecond})
	if !errors.Is(err, ErrInterruptFailed) || res == nil || !res.Interrupted || out != "working" {
		t.Fatalf("got %+v, %q, %v; want ErrInterruptFailed with the partial result", res, out, err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("returned after %s; want timeout + grace", d)
	}
	select {
	case <-interrupted:
	default:
		t.Error("the interrupt endpoint was never called")
	}
}

func TestInterruptRefused(t *testing.T) {
	k := (&fakeKernel{t: t,
		handle:      func(*fakeConn, *message) {},
		onInterrupt: func(*fakeConn) int { return 500 },
	}).start()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, _, err := collect(t, k, ctx, nil)
	if !errors.Is(err, ErrInterruptFailed) || !strings.Contains(err.Error(), "500") || res == nil {
		t.Errorf("got %+v, %v; want ErrInterruptFailed naming the HTTP 500", res, err)
	}
}

// A slow OnEvent must not stall the reader: another execution still
// completes while the first one's callback blocks.
func TestSlowConsumerDoesNotBlockReader(t *testing.T) {
	k := (&fakeKernel{t: t, handle: func(c *fakeConn, req *message) {
		for i := 0; i < 100; i++ {
			c.send("iopub", "stream", req, stdout("x"))
		}
		c.send("shell", "execute_reply", req, okReply(1))
		c.send("iopub", "status", req, status("idle"))
	}}).start()
	release := make(chan struct{})
	slowDone := make(chan string, 1)
	go func() {
		var out strings.Builder
		_, err := k.Execute(context.Background(), "slow", &ExecuteOptions{OnEvent: func(e Event) {
			<-release
			out.WriteString("x")
		}})
		if err != nil {
			out.WriteString(err.Error())
		}
		slowDone <- out.String()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, out, err := collect(t, k, ctx, nil); err != nil || len(out) != 100 {
		t.Fatalf("second execution behind a blocked consumer: %q, %v", out, err)
	}
	close(release)
	if out := <-slowDone; out != strings.Repeat("x", 100) {
		t.Errorf("slow consumer got %q; want 100 events in order", out)
	}
}

func TestLegacyBinaryFrames(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nbinary")
	k := (&fakeKernel{t: t, legacy: true, handle: func(c *fakeConn, req *message) {
		c.send("iopub", "display_data", req, map[string]any{"data": map[string]string{"text/plain": "img"}}, png, []byte("second"))
		c.send("shell", "execute_reply", req, okReply(1))
		c.send("iopub", "status", req, status("idle"))
	}}).start()
	if k.Protocol() != "legacy" {
		t.Fatalf("Protocol() = %q; want legacy", k.Protocol())
	}
	var got []Event
	res, err := k.Execute(context.Background(), "x", &ExecuteOptions{OnEvent: func(e Event) { got = append(got, e) }})
	if err != nil || res.Status != "ok" || len(got) != 1 || got[0].Type != "display_data" || !strings.Contains(string(got[0].Content), `"img"`) {
		t.Errorf("got %+v, %v, events %v", res, err, got)
	}
}

func TestInfoAndRequestShape(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		var seen *message
		k := (&fakeKernel{t: t, legacy: legacy, handle: func(c *fakeConn, req *message) {
			seen = req
			c.send("shell", "kernel_info_reply", req, map[string]any{
				"status": "ok", "protocol_version": "5.3", "implementation": "fake",
				"language_info": map[string]string{"name": "python"}, "banner": "hi",
			})
		}}).start()
		info, err := k.Info(context.Background())
		if err != nil || info.ProtocolVersion != "5.3" || info.Implementation != "fake" || string(info.LanguageInfo) != `{"name":"python"}` {
			t.Fatalf("legacy=%v: Info = %+v, %v", legacy, info, err)
		}
		if seen.Channel != "shell" || seen.Header.MsgType != "kernel_info_request" || seen.Header.Session == "" || seen.Header.Version != protocolVersion {
			t.Errorf("legacy=%v: request %+v", legacy, seen)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", seen.Header.Date); err != nil || !strings.HasSuffix(seen.Header.Date, "Z") {
			t.Errorf("date %q: want UTC with microseconds and Z", seen.Header.Date)
		}
	}
}

func TestExecuteRequestContent(t *testing.T) {
	var content map[string]any
	k := (&fakeKernel{t: t, handle: func(c *fakeConn, req *message) {
		_ = json.Unmarshal(req.Content, &content)
		c.send("shell", "execute_reply", req, okReply(1))
		c.send("iopub", "status", req, status("idle"))
	}}).start()
	if _, err := k.Execute(context.Background(), "print(1)", &ExecuteOptions{StoreHistory: true}); err != nil {
		t.Fatal(err)
	}
	if content["code"] != "print(1)" || content["allow_stdin"] != false || content["store_history"] != true ||
		content["silent"] != false || content["stop_on_error"] != false {
		t.Errorf("execute_request content %v", content)
	}
}
