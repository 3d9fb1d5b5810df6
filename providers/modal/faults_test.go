package modal

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// What a real service does on a bad day, against the fake's fault modes.

// Issue 15 #5: the create answer is lost after Modal acted (every retry's
// too): the sandbox runs, untagged; Create finds it by name and stops it.
func TestLostCreateAnswerIsCleanedUpByName(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.DropNext("SandboxCreate", 10)
	_, err := p.Create(testContext(t), minimalRequest("sena-lost"))
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Create with every answer lost = %v, want ErrUnavailable", err)
	}
	if n := len(fake.Calls("SandboxCreate")); n < 2 {
		t.Fatalf("%d SandboxCreate calls; the fault should have made modal-go retry", n)
	}
	if r := fake.Running(); len(r) > 0 {
		t.Errorf("left running (untagged, invisible to gc): %v", r)
	}
	if len(fakemodal.Requests[*pb.SandboxGetFromNameRequest](fake, "SandboxGetFromName")) == 0 {
		t.Error("Create did not look the sandbox up by its name")
	}
}

// Issue 15 #5: Ctrl-C while Modal handles the create: the sandbox it made
// is found by name and stopped.
func TestCancelDuringCreateLeavesNothing(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.Delay("SandboxCreate", 3*time.Second)
	ctx, cancel := context.WithCancel(testContext(t))
	go func() {
		waitUntil(t, 10*time.Second, "SandboxCreate never arrived", func() bool { return len(fake.Calls("SandboxCreate")) > 0 })
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := p.Create(ctx, minimalRequest("sena-ctrlc"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Create = %v, want context.Canceled", err)
	}
	if r := fake.Running(); len(r) > 0 {
		t.Errorf("left running after Ctrl-C: %v", r)
	}
}

// Issue 15 #5: a service that does not dedupe retries: the retry of a
// create whose answer was lost hits AlreadyExists on the session's name.
func TestRetryHittingAlreadyExistsLeavesNothing(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.SetDedupe(false)
	fake.DropNext("SandboxCreate", 1)
	_, err := p.Create(testContext(t), minimalRequest("sena-dup"))
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create = %v, want the AlreadyExists of the retry", err)
	}
	if r := fake.Running(); len(r) > 0 {
		t.Errorf("left running: %v", r)
	}
}

// Unavailable on a first attempt: modal-go retries with the same
// idempotency key, so the service makes one sandbox.
func TestRetriedCreateKeepsItsIdempotencyKey(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.FailNext("SandboxCreate", 1, codes.Unavailable, "upstream connect error")
	if _, err := p.Create(testContext(t), minimalRequest("sena-retry")); err != nil {
		t.Fatalf("Create after one Unavailable: %v", err)
	}
	calls := fake.Calls("SandboxCreate")
	if len(calls) != 2 || calls[0].IdempotencyKey == "" || calls[0].IdempotencyKey != calls[1].IdempotencyKey || calls[1].Attempt != 1 {
		t.Fatalf("SandboxCreate calls = %+v, want two attempts with one idempotency key", calls)
	}
	if r := fake.Running(); len(r) != 1 {
		t.Errorf("running = %v, want one sandbox", r)
	}
}

// Issue 15 #5: a sandbox whose tagging never happened (sena killed between
// Modal's create and SetTags) is found for its session by name, so that
// `sena down` and `sena gc` can stop it.
func TestUntaggedSandboxIsFoundForItsSession(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	ctx := testContext(t)
	id := fake.AddNamedSandbox(appName, "sena-untagged")
	other := fake.AddNamedSandbox(appName, "sena-someone")
	l, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelSession: "sena-untagged", core.LabelStateDir: "abc"}})
	if err != nil || len(l.Sandboxes) != 1 || l.Sandboxes[0].Handle.ID != id {
		t.Fatalf("List for session sena-untagged = %+v, %v; want %s", l, err, id)
	}
	if err := p.Destroy(ctx, &core.DestroyRequest{Handle: l.Sandboxes[0].Handle}); err != nil {
		t.Fatal(err)
	}
	if _, running, _ := fake.SandboxState(id); running {
		t.Error("Destroy did not stop it")
	}
	// Untagged sandboxes of other sessions stay out of it, and out of
	// listings without a session.
	all, err := p.List(ctx, &core.ListRequest{Labels: map[string]string{core.LabelManaged: "true"}})
	if err != nil || len(all.Sandboxes) != 0 {
		t.Errorf("List of managed sandboxes = %+v, %v; want none (%s has no tags)", all, err, other)
	}
}

// Tunnels that answer TIMEOUT several times, as while a GPU is scheduled.
func TestTunnelAppearsAfterTimeouts(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.SetTunnelTimeouts(3)
	if _, err := p.Create(testContext(t), minimalRequest("sena-slow")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if n := len(fake.Calls("SandboxGetTunnels")); n != 4 {
		t.Errorf("%d SandboxGetTunnels calls, want 4 (three TIMEOUTs, then the tunnel)", n)
	}
}

// The container starts well after the create: the workspace files wait for
// it through the filesystem API.
func TestFilesWaitForTheContainer(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.SetStartDelay(1500 * time.Millisecond)
	req := minimalRequest("sena-late")
	req.Spec.Files = map[string][]byte{"lib/a.py": []byte("A = 1\n")}
	resp, err := p.Create(testContext(t), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	got := readBundle(t, fake, resp.Handle.ID)
	if got["lib/a.py"] != "A = 1\n" {
		t.Errorf("bundle = %v, want lib/a.py", got)
	}
}

// Issue 15 #2: workspace files do not travel in the command line, which
// Modal caps at 64 KiB: 300 KiB of files start, and the command stays small.
func TestWorkspaceFilesTravelOutsideTheCommandLine(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	req := minimalRequest("sena-files")
	req.Spec.Files = map[string][]byte{
		"lib/probe.py":    []byte("print('hi')\n"),
		"skills/big.json": bytes.Repeat([]byte("x"), 300<<10),
	}
	resp, err := p.Create(testContext(t), req)
	if err != nil {
		t.Fatalf("Create with 300 KiB of workspace files: %v", err)
	}
	total := 0
	for _, a := range sessionCreate(t, fake).GetEntrypointArgs() {
		total += len(a)
	}
	// The launcher (with the notebook service in it) travels in the command
	// line; the files must not.
	if total > len(core.JupyterServerLauncher)+argMaxBytes/4 {
		t.Errorf("the command line takes %d bytes (the launcher %d); the files should not be in it", total, len(core.JupyterServerLauncher))
	}
	got := readBundle(t, fake, resp.Handle.ID)
	if len(got["skills/big.json"]) != 300<<10 || got["lib/probe.py"] != "print('hi')\n" {
		t.Errorf("the bundle written into the sandbox holds %d files", len(got))
	}
	if _, err := fake.ReadFile(resp.Handle.ID, filesBundle+".ready"); err != nil {
		t.Errorf("the ready mark the bootstrap waits for was not written: %v", err)
	}
}

// readBundle reads the workspace tar written into a sandbox.
func readBundle(t *testing.T, fake *fakemodal.Server, id string) map[string]string {
	t.Helper()
	data, err := fake.ReadFile(id, filesBundle)
	if err != nil {
		t.Fatalf("no workspace bundle in the sandbox: %v", err)
	}
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

// Issue 15 #4: Modal's idle timeout counts tunnel connections, not kernel
// work; the fake applies it as Modal does. A sandbox nobody is connected to
// outlives it: Sena does not pass it, and Jupyter applies Sena's rule.
func TestBusySandboxWithoutClientOutlivesModalsIdleRule(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	req := minimalRequest("sena-busy")
	req.Spec.IdleTimeout = time.Second
	resp, err := p.Create(testContext(t), req)
	if err != nil {
		t.Fatal(err)
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections() // nobody is connected
	time.Sleep(2500 * time.Millisecond)
	if _, running, _ := fake.SandboxState(resp.Handle.ID); !running {
		t.Fatalf("the sandbox was stopped by Modal's idle timeout (%v)", fake.Result(resp.Handle.ID))
	}
	if args := strings.Join(sessionCreate(t, fake).GetEntrypointArgs(), " "); !strings.Contains(args, "--sena-idle-timeout=1 ") {
		t.Errorf("Jupyter is not given the idle timeout: %s", args)
	}
}

// Issue 15 #9: a sandbox that ends before its tunnel opens is reported
// with its exit code and the end of its stderr.
func TestSandboxExitingBeforeItsTunnelReportsStderr(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.SetTunnelTimeouts(1000)
	go func() {
		waitUntil(t, 10*time.Second, "no sandbox started", func() bool { return len(fake.Running()) > 0 })
		fake.Exit(fake.Running()[0], 1, "Traceback (most recent call last):\n  File \"<string>\", line 1\nModuleNotFoundError: No module named 'jupyter_server'\n")
	}()
	_, err := p.Create(testContext(t), minimalRequest("sena-crash"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "exited with code 1") || !strings.Contains(err.Error(), "No module named 'jupyter_server'") {
		t.Fatalf("Create of a sandbox that crashes = %v, want its exit code and the end of its stderr", err)
	}
}

// Image builds stream their logs: they reach up's progress, and a failed
// build's error ends with them.
func TestImageBuildFailureShowsItsLog(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	fake.SetImageBuild([]string{"Step 1/3 : RUN apt-get install nosuchpkg", "E: Unable to locate package nosuchpkg"}, "Build failed with exit code 100")
	var progress syncBuffer
	req := minimalRequest("sena-build")
	req.Progress = func(p core.Progress) { progress.Write([]byte(p.String() + "\n")) }
	_, err := p.Create(testContext(t), req)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "Unable to locate package nosuchpkg") || !strings.Contains(err.Error(), "exit code 100") {
		t.Fatalf("Create with a failing build = %v, want the build's exception and log", err)
	}
	if !strings.Contains(progress.String(), "modal build: Step 1/3") {
		t.Errorf("progress did not show the build's log:\n%s", progress.String())
	}
	if len(fake.Calls("SandboxCreate")) > 0 {
		t.Error("a sandbox was created although its image failed to build")
	}
}

// Issue 15 #8: up says when Modal will stop the sandbox whatever happens,
// and how to change it.
func TestCreateSaysWhenTheSandboxExpires(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    []string
	}{
		{0, []string{"1h0m0s after it started", "the default", "--timeout", "24h0m0s"}},
		{90 * time.Minute, []string{"1h30m0s after it started", "set by timeout"}},
	} {
		p, _, _ := newTestProvider(t)
		var progress syncBuffer
		req := minimalRequest("sena-expiry")
		req.Spec.Timeout = tc.timeout
		req.Progress = func(p core.Progress) { progress.Write([]byte(p.String() + "\n")) }
		before := time.Now()
		if _, err := p.Create(testContext(t), req); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		lifetime := tc.timeout
		if lifetime == 0 {
			lifetime = defaultTimeout
		}
		out := progress.String()
		stamp := func(at time.Time) string {
			return "Modal stops it at " + at.Add(lifetime).Local().Format("2006-01-02 15:04")
		}
		if !containsAll(out, tc.want...) || !strings.Contains(out, stamp(before)) && !strings.Contains(out, stamp(after)) {
			t.Errorf("timeout %s: progress does not say when the sandbox stops (%s) and how to change it:\n%s", tc.timeout, stamp(before), out)
		}
	}
}
