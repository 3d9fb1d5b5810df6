package modal

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
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
