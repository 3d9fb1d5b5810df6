package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sena-labs/sena/core/notebook"
)

// save writes the session's notebook: the host mirror first (the copy that
// survives the sandbox), then the copy in the sandbox through the contents API.
func (s *Session) save(ctx context.Context, nb *notebook.Notebook) error {
	mirror := s.store.NotebookPath(s.ID)
	if err := nb.WriteFile(mirror); err != nil {
		return fmt.Errorf("save notebook mirror: %w", err)
	}
	data, err := nb.Marshal()
	if err != nil {
		return err
	}
	if err := s.srv.SaveNotebook(ctx, s.Record.Notebook, data); err != nil {
		return fmt.Errorf("save notebook in the sandbox (the host mirror %s is up to date): %w", mirror, err)
	}
	return nil
}

// throttledSaver mirrors a running cell's outputs to disk at most every
// two seconds, so a crash mid-cell loses little without a write per output.
type throttledSaver struct {
	mu   sync.Mutex
	nb   *notebook.Notebook
	path string
	last time.Time
}

func newThrottledSaver(nb *notebook.Notebook, path string) *throttledSaver {
	return &throttledSaver{nb: nb, path: path, last: time.Now()}
}

func (t *throttledSaver) changed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path == "" || time.Since(t.last) < 2*time.Second {
		return
	}
	t.last = time.Now()
	_ = t.nb.WriteFile(t.path) // the final save after the cell reports errors
}
