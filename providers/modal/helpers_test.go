package modal

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// testDockerfile has the shape of images.JupyterCUDA (ARG, FROM, ENV and
// RUN with continuations), so the tests do not depend on its contents.
const testDockerfile = `# a recipe
ARG BASE_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1
RUN apt-get update \
    && apt-get install -y python3 python3-pip
WORKDIR /workspace
`

const testToken = "jupyter-token-0123456789abcdef"

// syncBuffer collects the provider's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestProvider starts a fake Modal and a provider pointed at it; logs go
// to the returned buffer at debug level, modal-go's included.
func newTestProvider(t *testing.T) (*Provider, *fakemodal.Server, *syncBuffer) {
	t.Helper()
	fake := fakemodal.Start(t)
	logs := &syncBuffer{}
	p := newProvider(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), testDockerfile)
	t.Cleanup(func() { _ = p.Close() })
	return p, fake, logs
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func labels(session string) map[string]string {
	return map[string]string{core.LabelManaged: "true", core.LabelSession: session}
}

func minimalRequest(session string) *core.CreateRequest {
	return &core.CreateRequest{SessionID: session, Labels: labels(session), JupyterToken: testToken}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// startHub serves a Hugging Face Hub for the test at HF_ENDPOINT, where the
// provider asks about models from the host and the download sandboxes
// (run locally by the fake) fetch them, with no token anywhere.
func startHub(t *testing.T) *hubtest.Server {
	t.Helper()
	s := hubtest.NewServer(t)
	for k, v := range map[string]string{
		"HF_ENDPOINT": s.URL, "HF_HOME": t.TempDir(), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
	} {
		t.Setenv(k, v)
	}
	// Unset, not empty: huggingface_hub takes an empty HF_TOKEN_PATH as a path.
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return s
}

// hfPython is a python3 with huggingface_hub, which the download script
// needs; it skips the test without one (fails in CI).
func hfPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import huggingface_hub").Run()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 with huggingface_hub is needed: %v", err)
		}
		t.Skipf("python3 with huggingface_hub is needed: %v", err)
	}
	return py
}

// tinyModel is a repo with both weight formats, as many on the Hub have.
func tinyModel() map[string][]byte {
	return map[string][]byte{
		"config.json":       []byte(`{"model_type": "llama"}`),
		"model.safetensors": bytes.Repeat([]byte("s"), 64<<10),
		"pytorch_model.bin": bytes.Repeat([]byte("p"), 64<<10), // the same weights, pickled
	}
}

// sessionCreate is the SandboxCreate request of the session's sandbox (the
// one with ports), the last one made.
func sessionCreate(t *testing.T, fake *fakemodal.Server) *pb.Sandbox {
	t.Helper()
	var def *pb.Sandbox
	for _, r := range fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate") {
		if len(r.GetDefinition().GetOpenPorts().GetPorts()) > 0 {
			def = r.GetDefinition()
		}
	}
	if def == nil {
		t.Fatal("no session sandbox was created")
	}
	return def
}

// downloadCreates are the SandboxCreate requests of model downloads.
func downloadCreates(fake *fakemodal.Server) []*pb.Sandbox {
	var out []*pb.Sandbox
	for _, r := range fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate") {
		if len(r.GetDefinition().GetOpenPorts().GetPorts()) == 0 {
			out = append(out, r.GetDefinition())
		}
	}
	return out
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
