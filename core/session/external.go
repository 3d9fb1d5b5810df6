package session

import (
	"context"
	"fmt"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// ExternalProvider names sessions on Jupyter servers Sena did not start.
const ExternalProvider = "external"

// AttachExternal starts a kernel on any Jupyter server, given its URL with
// the token (as a browser opens it), and returns a live Session whose
// notebook is mirrored in the store like any other. Such a session is not
// recorded: its token stays in this process's memory only, and stopping it
// shuts down the kernel it started, never the server.
func (m *Manager) AttachExternal(ctx context.Context, jupyterURL string) (*Session, error) {
	base, token, err := kernel.ParseURL(jupyterURL)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "jupyter url: %v", err)
	}
	srv, err := kernel.NewServer(base, token)
	if err != nil {
		return nil, err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.WaitReady(readyCtx); err != nil {
		return nil, fmt.Errorf("jupyter server at %s: %w", base, err)
	}
	rec := &Record{
		ID: newID(), Provider: ExternalProvider, Mode: core.ModeNotebook, State: StateReady,
		Endpoint: core.Endpoint{URL: base}, CreatedAt: time.Now().UTC(),
	}
	rec.Notebook = "sena-" + rec.ID + ".ipynb"
	s, err := startSession(ctx, m.store, srv, rec, nil)
	if err != nil {
		if rec.KernelID != "" {
			_ = srv.ShutdownKernel(context.WithoutCancel(ctx), rec.KernelID)
		}
		return nil, err
	}
	return s, nil
}

// Shutdown ends an external session: its kernel stops, the server stays.
func (s *Session) Shutdown(ctx context.Context) error {
	s.kernel().Close()
	return s.srv.ShutdownKernel(ctx, s.KernelID)
}
