package kernel_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/kernel/jupytertest"
)

// TestJupyter runs the client against a real jupyter_server of every
// interpreter found, in both websocket protocols.
func TestJupyter(t *testing.T) {
	for _, in := range jupytertest.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			js := jupytertest.Start(t, in.Path)
			srv := newServer(t, js)
			t.Run("Server", func(t *testing.T) { testServer(t, srv, js, in) })
			t.Run("Contents", func(t *testing.T) { testContents(t, srv, js) })
			t.Run("Auth", func(t *testing.T) { testAuth(t, js) })
			t.Run("Outputs", func(t *testing.T) { testOutputs(t, srv, "v1") })
			t.Run("Lifecycle", func(t *testing.T) {
				// One kernel through restart, crash and shutdown: kernel starts are the slow part.
				k := connect(t, srv)
				t.Run("Restart", func(t *testing.T) { testRestart(t, k) })
				t.Run("Killed", func(t *testing.T) { testKilled(t, k) })
				t.Run("Shutdown", func(t *testing.T) { testShutdown(t, srv, k) })
			})
			t.Run("Legacy", func(t *testing.T) {
				flag := "--ZMQChannelsWebsocketConnection.kernel_ws_protocol="
				if strings.HasPrefix(in.ServerVersion, "1.") {
					flag = "--ServerApp.kernel_ws_protocol="
				}
				// Behind a base_url too, as under JupyterHub or a proxy.
				js := jupytertest.Start(t, in.Path, flag, "--ServerApp.base_url=/proxy/abc/")
				if !strings.HasSuffix(js.URL, "/proxy/abc/") {
					t.Fatalf("server URL %s lacks the base_url", js.URL)
				}
				srv := newServer(t, js)
				if v, err := srv.Version(context.Background()); err != nil || v != in.ServerVersion {
					t.Fatalf("Version behind base_url = %q, %v", v, err)
				}
				testOutputs(t, srv, "legacy")
			})
		})
	}
}

func newServer(t *testing.T, js *jupytertest.Server) *kernel.Server {
	t.Helper()
	srv, err := kernel.NewServer(js.URL, js.Token)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// connect starts a session for a fresh notebook and opens its kernel; both
// go away with the test.
func connect(t *testing.T, srv *kernel.Server) *kernel.Kernel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sess, err := srv.StartSession(ctx, strings.ReplaceAll(t.Name(), "/", "_")+".ipynb", "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := srv.Connect(ctx, sess.Kernel.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k.Close()
		_ = srv.ShutdownKernel(context.Background(), sess.Kernel.ID)
	})
	return k
}

// run executes code with a generous timeout, collecting the outputs.
func run(t *testing.T, k *kernel.Kernel, code string) (*kernel.ExecuteResult, []kernel.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var evs []kernel.Event
	res, err := k.Execute(ctx, code, &kernel.ExecuteOptions{StoreHistory: true, OnEvent: func(e kernel.Event) { evs = append(evs, e) }})
	if err != nil {
		t.Fatalf("Execute(%q): %v", code, err)
	}
	return res, evs
}

// stream concatenates the text of one stream (stdout or stderr).
func stream(t *testing.T, evs []kernel.Event, name string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		if e.Type != "stream" {
			continue
		}
		var c struct{ Name, Text string }
		if err := json.Unmarshal(e.Content, &c); err != nil {
			t.Fatal(err)
		}
		if c.Name == name {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

func types(evs []kernel.Event) []string {
	var ts []string
	for _, e := range evs {
		ts = append(ts, e.Type)
	}
	return ts
}

func testServer(t *testing.T, srv *kernel.Server, js *jupytertest.Server, in jupytertest.Interpreter) {
	ctx := context.Background()
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := srv.Version(ctx); err != nil || v != in.ServerVersion {
		t.Errorf("Version = %q, %v; want %q", v, err, in.ServerVersion)
	}
	specs, err := srv.KernelSpecs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := specs.Specs[specs.Default]; specs.Default == "" || d.Language != "python" || d.DisplayName == "" {
		t.Errorf("KernelSpecs default %q = %+v; want a python kernel", specs.Default, d)
	}

	sess, err := srv.StartSession(ctx, "work/a.ipynb", specs.Default)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.ShutdownKernel(ctx, sess.Kernel.ID) })
	if sess.ID == "" || sess.Path != "work/a.ipynb" || sess.Kernel.ID == "" || sess.Kernel.Name != specs.Default {
		t.Errorf("StartSession = %+v", sess)
	}
	km, err := srv.Kernel(ctx, sess.Kernel.ID)
	if err != nil || km.ID != sess.Kernel.ID || km.ExecutionState == "" {
		t.Errorf("Kernel = %+v, %v", km, err)
	}
	all, err := srv.Kernels(ctx)
	if err != nil || len(all) == 0 {
		t.Errorf("Kernels = %v, %v", all, err)
	}
	if err := srv.InterruptKernel(ctx, sess.Kernel.ID); err != nil {
		t.Errorf("InterruptKernel of an idle kernel: %v", err)
	}

	const unknown = "00000000-0000-0000-0000-000000000000"
	if _, err := srv.Kernel(ctx, unknown); !errors.Is(err, kernel.ErrKernelNotFound) {
		t.Errorf("Kernel(unknown) = %v; want ErrKernelNotFound", err)
	}
	if err := srv.ShutdownKernel(ctx, unknown); !errors.Is(err, kernel.ErrKernelNotFound) {
		t.Errorf("ShutdownKernel(unknown) = %v; want ErrKernelNotFound", err)
	}
	if _, err := srv.Connect(ctx, unknown); !errors.Is(err, kernel.ErrKernelNotFound) {
		t.Errorf("Connect(unknown) = %v; want ErrKernelNotFound", err)
	}

	// A URL pasted from the browser leads to the same server.
	base, tok, err := kernel.ParseURL(js.URL + "lab/tree/a.ipynb?token=" + js.Token)
	if err != nil || base != js.URL || tok != js.Token {
		t.Errorf("ParseURL of the lab URL = %q, token ok %v, %v", base, tok == js.Token, err)
	}
}

func testContents(t *testing.T, srv *kernel.Server, js *jupytertest.Server) {
	ctx := context.Background()
	nb := []byte(`{"cells":[{"cell_type":"markdown","id":"c1","metadata":{},"source":"# hi"}],` +
		`"metadata":{},"nbformat":4,"nbformat_minor":5}`)
	if err := srv.SaveNotebook(ctx, "deep/er/n.ipynb", nb); err != nil {
		t.Fatal(err)
	}
	got, err := srv.GetFile(ctx, "deep/er/n.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Cells []struct{ Source []string } `json:"cells"` // written back split into lines
	}
	if err := json.Unmarshal(got, &parsed); err != nil || len(parsed.Cells) != 1 || strings.Join(parsed.Cells[0].Source, "") != "# hi" {
		t.Errorf("saved notebook reads back as %s (%v)", got, err)
	}
	if _, err := os.Stat(filepath.Join(js.RootDir, "deep", "er", "n.ipynb")); err != nil {
		t.Errorf("notebook not on disk: %v", err)
	}

	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	for i := 0; i < 2; i++ { // the second put overwrites, through existing directories
		if err := srv.PutFile(ctx, "x/y/data.bin", data); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := srv.GetFile(ctx, "x/y/data.bin"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetFile after PutFile: %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	if disk, err := os.ReadFile(filepath.Join(js.RootDir, "x", "y", "data.bin")); err != nil || !bytes.Equal(disk, data) {
		t.Errorf("file on disk differs: %v", err)
	}

	if e, err := srv.Stat(ctx, "x/y/data.bin"); err != nil || e.Type != "file" || e.Size == nil || *e.Size != int64(len(data)) || e.Name != "data.bin" {
		t.Errorf("Stat(x/y/data.bin) = %+v, %v; want a file of %d bytes", e, err, len(data))
	}
	if e, err := srv.Stat(ctx, "x"); err != nil || e.Type != "directory" {
		t.Errorf("Stat(x) = %+v, %v; want a directory", e, err)
	}
	if _, err := srv.Stat(ctx, "nope.txt"); !errors.Is(err, kernel.ErrFileNotFound) {
		t.Errorf("Stat(missing) = %v; want ErrFileNotFound", err)
	}
	root, err := srv.ListDir(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, e := range root {
		names[e.Name] = e.Type
	}
	if names["x"] != "directory" || names["deep"] != "directory" {
		t.Errorf("ListDir(root) = %+v; want directories x and deep", root)
	}
	if l, err := srv.ListDir(ctx, "x/y"); err != nil || len(l) != 1 || l[0].Path != "x/y/data.bin" || l[0].Size == nil {
		t.Errorf("ListDir(x/y) = %+v, %v", l, err)
	}
	if _, err := srv.ListDir(ctx, "x/y/data.bin"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("ListDir(a file) = %v; want an error saying it is not a directory", err)
	}
	if _, err := srv.ListDir(ctx, "nope"); !errors.Is(err, kernel.ErrFileNotFound) {
		t.Errorf("ListDir(missing) = %v; want ErrFileNotFound", err)
	}

	if _, err := srv.GetFile(ctx, "nope.txt"); !errors.Is(err, kernel.ErrFileNotFound) {
		t.Errorf("GetFile(missing) = %v; want ErrFileNotFound", err)
	}
	if err := srv.PutFile(ctx, "../escape.txt", data); err == nil || !strings.Contains(err.Error(), "..") {
		t.Errorf("PutFile(../escape.txt) = %v; want an error about ..", err)
	}
	if err := srv.SaveNotebook(ctx, "bad.ipynb", []byte("{not json")); err == nil {
		t.Error("SaveNotebook accepted invalid JSON")
	}
}

func testAuth(t *testing.T, js *jupytertest.Server) {
	const wrong = "wrong-token-3f9a"
	srv, err := kernel.NewServer(js.URL, wrong)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = srv.WaitReady(ctx)
	if !errors.Is(err, kernel.ErrAuth) || time.Since(start) > 5*time.Second {
		t.Errorf("WaitReady with a wrong token = %v after %s; want ErrAuth at once", err, time.Since(start))
	}
	_, err2 := srv.Kernels(ctx)
	_, err3 := srv.Connect(ctx, "00000000-0000-0000-0000-000000000000")
	for _, e := range []error{err, err2, err3} {
		if !errors.Is(e, kernel.ErrAuth) {
			t.Errorf("got %v; want ErrAuth", e)
		}
		if e != nil && (strings.Contains(e.Error(), wrong) || strings.Contains(e.Error(), js.Token)) {
			t.Errorf("error leaks a token: %v", e)
		}
	}
}

// pngCode writes a >32 KiB PNG of noise, displays it and prints its sha256.
const pngCode = `
import os, zlib, struct, hashlib
from IPython.display import display, Image
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
w = h = 160
raw = b"".join(b"\x00" + os.urandom(w * 3) for _ in range(h))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
display(Image(data=png))
print(hashlib.sha256(png).hexdigest())
`

func testOutputs(t *testing.T, srv *kernel.Server, wantProto string) {
	k := connect(t, srv)
	if k.Protocol() != wantProto {
		t.Fatalf("Protocol() = %q; want %q", k.Protocol(), wantProto)
	}

	t.Run("Info", func(t *testing.T) {
		info, err := k.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var li struct{ Name string }
		_ = json.Unmarshal(info.LanguageInfo, &li)
		if info.ProtocolVersion == "" || info.Implementation != "ipython" || li.Name != "python" {
			t.Errorf("Info = %+v", info)
		}
	})
	t.Run("Streams", func(t *testing.T) {
		res, evs := run(t, k, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)")
		if res.Status != "ok" || stream(t, evs, "stdout") != "hello\n" || stream(t, evs, "stderr") != "oops\n" {
			t.Errorf("result %+v, events %v", res, types(evs))
		}
		if len(evs) == 0 || evs[0].Type != "execute_input" || res.ExecutionCount < 1 {
			t.Errorf("want execute_input first and an execution count; got %v, count %d", types(evs), res.ExecutionCount)
		}
	})
	t.Run("ExecuteResult", func(t *testing.T) {
		res, evs := run(t, k, "6*7")
		var data struct {
			Data map[string]string `json:"data"`
			N    int               `json:"execution_count"`
		}
		for _, e := range evs {
			if e.Type == "execute_result" {
				_ = json.Unmarshal(e.Content, &data)
			}
		}
		if data.Data["text/plain"] != "42" || data.N != res.ExecutionCount {
			t.Errorf("execute_result %+v, result count %d", data, res.ExecutionCount)
		}
	})
	t.Run("LargePNG", func(t *testing.T) {
		res, evs := run(t, k, pngCode)
		var png []byte
		for _, e := range evs {
			var c struct {
				Data map[string]string `json:"data"`
			}
			if e.Type == "display_data" && json.Unmarshal(e.Content, &c) == nil {
				png, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(c.Data["image/png"]))
			}
		}
		sum := sha256.Sum256(png)
		if res.Status != "ok" || len(png) <= 32<<10 || hex.EncodeToString(sum[:])+"\n" != stream(t, evs, "stdout") {
			t.Errorf("PNG of %d bytes, status %s: want > 32 KiB and the sha256 Python printed", len(png), res.Status)
		}
	})
	t.Run("Error", func(t *testing.T) {
		res, evs := run(t, k, "1/0")
		if res.Status != "error" || res.EName != "ZeroDivisionError" || res.EValue != "division by zero" || len(res.Traceback) == 0 {
			t.Errorf("result %+v", res)
		}
		if !containsType(evs, "error") {
			t.Errorf("no error output among %v", types(evs))
		}
	})
	t.Run("ClearOutput", func(t *testing.T) {
		res, evs := run(t, k, "from IPython.display import clear_output\nprint('a')\nclear_output(wait=True)\nprint('b')")
		// ipykernel may flush one print as several stream messages: what
		// counts is the order of streams and the clear.
		var kinds []string
		for _, ty := range types(evs) {
			if ty != "stream" || len(kinds) == 0 || kinds[len(kinds)-1] != "stream" {
				kinds = append(kinds, ty)
			}
		}
		if got := strings.Join(kinds, ","); got != "execute_input,stream,clear_output,stream" {
			t.Errorf("events %s, result %+v", strings.Join(types(evs), ","), res)
		}
	})
	t.Run("InputRefused", func(t *testing.T) {
		start := time.Now()
		res, _ := run(t, k, "input('name? ')")
		if res.Status != "error" || res.EName != "StdinNotImplementedError" || time.Since(start) > 10*time.Second {
			t.Errorf("input(): %+v after %s; want StdinNotImplementedError at once", res, time.Since(start))
		}
	})
	t.Run("FiveMBPrint", func(t *testing.T) {
		_, evs := run(t, k, "print('x' * 5_000_000)")
		if out := stream(t, evs, "stdout"); len(out) != 5_000_001 || strings.Trim(out, "x\n") != "" {
			t.Errorf("stdout of %d bytes; want 5000001", len(out))
		}
		if e := stream(t, evs, "stderr"); e != "" {
			t.Errorf("stderr %q (rate limit?)", e)
		}
	})
	t.Run("Interrupt", func(t *testing.T) {
		done := make(chan *kernel.ExecuteResult, 1)
		go func() {
			res, err := k.Execute(context.Background(), "import time\ntime.sleep(60)", nil)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		time.Sleep(500 * time.Millisecond) // let the sleep begin
		if err := k.Interrupt(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case res := <-done:
			if res == nil || res.EName != "KeyboardInterrupt" || res.Interrupted {
				t.Errorf("interrupted execution: %+v; want KeyboardInterrupt, not marked as a ctx interrupt", res)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("execution still running 10s after Interrupt")
		}
	})
	t.Run("InterruptOnTimeout", func(t *testing.T) {
		run(t, k, "x = 41")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		res, err := k.Execute(ctx, "import time\ntime.sleep(60)", nil)
		took := time.Since(start)
		if err != nil || !res.Interrupted || res.EName != "KeyboardInterrupt" || took > 8*time.Second {
			t.Fatalf("Execute = %+v, %v after %s; want Interrupted by KeyboardInterrupt within seconds", res, err, took)
		}
		t.Logf("interrupted after %s", took)
		if res, evs := run(t, k, "print(x + 1)"); res.Status != "ok" || stream(t, evs, "stdout") != "42\n" {
			t.Errorf("after the interrupt: %+v %q; want state kept", res, stream(t, evs, "stdout"))
		}
	})
}

func containsType(evs []kernel.Event, typ string) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func testRestart(t *testing.T, k *kernel.Kernel) {
	run(t, k, "y = 1")

	// A pending execution fails as soon as the kernel restarts.
	errc := make(chan error, 1)
	go func() {
		_, err := k.Execute(context.Background(), "import time\ntime.sleep(30)", nil)
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond) // let it start
	start := time.Now()
	if err := k.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, kernel.ErrKernelRestarted) {
			t.Errorf("pending Execute = %v; want ErrKernelRestarted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pending Execute still waiting 10s after the restart")
	}
	t.Logf("restart took %s", time.Since(start))

	res, _ := run(t, k, "y")
	if res.Status != "error" || res.EName != "NameError" {
		t.Errorf("after restart, y: %+v; want NameError", res)
	}
}

func testKilled(t *testing.T, k *kernel.Kernel) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	_, err := k.Execute(ctx, "import os\nos.kill(os.getpid(), 9)", nil)
	if !errors.Is(err, kernel.ErrKernelRestarted) {
		t.Fatalf("Execute that kills the kernel = %v after %s; want ErrKernelRestarted", err, time.Since(start))
	}
	t.Logf("death reported after %s", time.Since(start))
	// The server restarted it; the same connection keeps working.
	if res, _ := run(t, k, "1+1"); res.Status != "ok" {
		t.Errorf("after auto-restart: %+v", res)
	}
}

func testShutdown(t *testing.T, srv *kernel.Server, k *kernel.Kernel) {
	run(t, k, "pass")
	if err := srv.ShutdownKernel(context.Background(), k.ID()); err != nil {
		t.Fatal(err)
	}
	// Within a few seconds the client knows the kernel is gone and fails fast.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		_, err := k.Execute(ctx, "1", &kernel.ExecuteOptions{InterruptGrace: time.Second})
		cancel()
		if errors.Is(err, kernel.ErrKernelDead) || errors.Is(err, kernel.ErrConnection) {
			if time.Since(start) > time.Second {
				continue // this call raced the news; the next must fail at once
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Execute on a shut-down kernel = %v; want ErrKernelDead or ErrConnection", err)
		}
	}
}
