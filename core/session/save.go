package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/notebook"
)

// The session's notebook lives in the sandbox. Sena's launcher loads a
// notebook service into every Jupyter server it starts (core/notebookservice.py,
// at sena/api/notebook): Sena reads the live document from it and sends it
// changes by cell id (notebook.Diff), which it applies to the shared
// document where real-time collaboration is installed (an open JupyterLab
// page shows them at once) and to the file otherwise (merged with what the
// page saved, never replacing it). Every change comes back as the whole
// document, which is written to the host mirror: the mirror follows the
// live document, researcher's cells included. On a server without the
// service (attach_to_session to a Jupyter Sena did not start) Sena saves
// whole notebooks through the contents API, as the mirror has them.

const serviceAPI = "sena/api/notebook"

// serviceInfo is what the notebook service says about itself.
type serviceInfo struct {
	Version        int    `json:"version"`
	RTC            bool   `json:"rtc"`
	JupyterServer  string `json:"jupyter_server"`
	MaxMessageSize int    `json:"max_message_size"`
}

// docService is the sandbox's notebook service for this session, nil where
// the server has none. Asked once per Session.
type docService struct {
	once sync.Once
	info *serviceInfo
}

func (s *Session) service(ctx context.Context) *serviceInfo {
	s.svc.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var info serviceInfo
		if err := s.srv.Call(ctx, http.MethodGet, serviceAPI+"/info", nil, nil, &info); err == nil && info.Version >= 1 {
			s.svc.info = &info
		}
	})
	return s.svc.info
}

// LiveDocument says how the session's notebook is shared: "collaborative"
// (JupyterLab pages and Sena edit one live document), "file" (Sena merges
// with what pages save) or "whole-file" (no Sena notebook service in the
// server: Sena saves the whole notebook).
func (s *Session) LiveDocument(ctx context.Context) string {
	switch info := s.service(ctx); {
	case info == nil:
		return "whole-file"
	case info.RTC:
		return "collaborative"
	}
	return "file"
}

type docAnswer struct {
	Notebook json.RawMessage `json:"notebook"`
}

func (s *Session) docQuery() url.Values { return url.Values{"path": {s.Record.Notebook}} }

// current returns the session's notebook as it is now: the live document in
// the sandbox, or the host mirror where the server has no notebook service.
// The caller holds the session's lock. A notebook that went missing in the
// sandbox (deleted or renamed there) is written again from the mirror.
func (s *Session) current(ctx context.Context) (*notebook.Notebook, error) {
	if s.service(ctx) == nil {
		return s.loadNotebook()
	}
	var a docAnswer
	err := s.srv.Call(ctx, http.MethodGet, serviceAPI, s.docQuery(), nil, &a)
	if kernel.HTTPStatus(err) == http.StatusNotFound {
		nb, lerr := s.loadNotebook()
		if lerr != nil {
			return nil, lerr
		}
		return s.create(ctx, nb)
	}
	if err != nil {
		return nil, fmt.Errorf("read the notebook %s in the sandbox: %w", s.Record.Notebook, err)
	}
	return parseDoc(a.Notebook)
}

func parseDoc(data json.RawMessage) (*notebook.Notebook, error) {
	nb, err := notebook.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the sandbox's notebook service sent a bad notebook: %w", err)
	}
	return nb, nil
}

// create writes nb as the session's whole notebook, in the sandbox and the
// mirror: the notebook a session starts with.
func (s *Session) create(ctx context.Context, nb *notebook.Notebook) (*notebook.Notebook, error) {
	if s.service(ctx) == nil {
		return nb, s.saveWhole(ctx, nb)
	}
	data, err := nb.Marshal()
	if err != nil {
		return nil, err
	}
	return s.send(ctx, []notebook.Op{{Op: "create", Notebook: data}})
}

// commit makes the live document what after is, given that it was before
// when read: the difference goes to the sandbox as ops by cell id, so what
// others changed meanwhile stays. It returns the document as it is now and
// writes it to the host mirror.
func (s *Session) commit(ctx context.Context, before, after *notebook.Notebook) (*notebook.Notebook, error) {
	if s.service(ctx) == nil {
		return after, s.saveWhole(ctx, after)
	}
	ops, err := notebook.Diff(before, after)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return before, s.writeMirror(before)
	}
	return s.send(ctx, ops)
}

func (s *Session) send(ctx context.Context, ops []notebook.Op) (*notebook.Notebook, error) {
	var a docAnswer
	if err := s.srv.Call(ctx, http.MethodPost, serviceAPI, s.docQuery(), map[string]any{"ops": ops}, &a); err != nil {
		return nil, fmt.Errorf("save the notebook %s in the sandbox (the host mirror %s has Sena's last copy): %w",
			s.Record.Notebook, s.store.NotebookPath(s.ID), err)
	}
	nb, err := parseDoc(a.Notebook)
	if err != nil {
		return nil, err
	}
	return nb, s.writeMirror(nb)
}

func (s *Session) writeMirror(nb *notebook.Notebook) error {
	if err := nb.WriteFile(s.store.NotebookPath(s.ID)); err != nil {
		return fmt.Errorf("save notebook mirror: %w", err)
	}
	return nil
}

// saveWhole writes the notebook where the server has no notebook service:
// the host mirror first (the copy that survives the sandbox), then the
// whole notebook through the contents API.
func (s *Session) saveWhole(ctx context.Context, nb *notebook.Notebook) error {
	if err := s.writeMirror(nb); err != nil {
		return err
	}
	data, err := nb.Marshal()
	if err != nil {
		return err
	}
	if err := s.srv.SaveNotebook(ctx, s.Record.Notebook, data); err != nil {
		return fmt.Errorf("save notebook in the sandbox (the host mirror %s is up to date): %w", s.store.NotebookPath(s.ID), err)
	}
	return nil
}

// Sync brings the host mirror up to date with the live document (cells the
// researcher added in JupyterLab, outputs recorded after Sena's client went
// away). Where the server has no notebook service the mirror is already
// the notebook.
func (s *Session) Sync(ctx context.Context) (*notebook.Notebook, error) {
	if s.service(ctx) == nil {
		return s.loadNotebook()
	}
	nb, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return nb, s.writeMirror(nb)
}

// startRecording asks the notebook service to record the execution msgID
// into cell: its own subscription to the kernel's output must be live
// first, which a kernel_info round trip proves (the service saw its
// output). false means Sena records the cell itself.
func (s *Session) startRecording(ctx context.Context, cellID, msgID string, limit int) bool {
	if s.service(ctx) == nil {
		return false
	}
	for attempt := 0; attempt < 3; attempt++ {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute) // waits behind a running cell
		ki, err := s.kernel().Info(ictx)
		cancel()
		if err != nil {
			return false
		}
		var r struct {
			Live bool `json:"live"`
		}
		err = s.srv.Call(ctx, http.MethodPost, serviceAPI+"/record", s.docQuery(), map[string]any{
			"kernel_id": s.KernelID, "cell_id": cellID, "msg_id": msgID, "probe_id": ki.RequestID, "limit": limit,
		}, &r)
		if err != nil {
			return false
		}
		if r.Live {
			return true
		}
	}
	return false
}

// finishRecording waits for the service to record the execution's end
// (Sena's client saw it), adds extra outputs (what Sena knows of a kernel
// death) and the execution count, and returns the document.
func (s *Session) finishRecording(ctx context.Context, msgID string, extra []*notebook.Output, count *int, wait time.Duration) (*notebook.Notebook, error) {
	outs := make([]json.RawMessage, 0, len(extra))
	for _, o := range extra {
		data, err := notebook.OutputJSON(o)
		if err != nil {
			return nil, err
		}
		outs = append(outs, data)
	}
	var a docAnswer
	err := s.srv.Call(ctx, http.MethodPost, serviceAPI+"/finish", s.docQuery(), map[string]any{
		"msg_id": msgID, "outputs": outs, "execution_count": count, "wait": wait.Seconds(),
	}, &a)
	if err != nil {
		return nil, fmt.Errorf("record the end of the cell in the sandbox's notebook: %w", err)
	}
	nb, err := parseDoc(a.Notebook)
	if err != nil {
		return nil, err
	}
	return nb, s.writeMirror(nb)
}

// outputLimit is the bytes of output each cell keeps in the notebook.
func (s *Session) outputLimit() int {
	switch kib := s.Config.OutputLimitKiB; {
	case kib < 0:
		return -1
	case kib == 0:
		return notebook.DefaultOutputLimit
	default:
		return int(kib) << 10
	}
}

// throttledSaver mirrors a running cell's outputs to disk at most every
// two seconds, so a crash mid-cell loses little without a write per output.
type throttledSaver struct {
	mu   sync.Mutex
	nb   *notebook.Notebook
	rec  *notebook.Recorder
	path string
	last time.Time
}

func newThrottledSaver(nb *notebook.Notebook, rec *notebook.Recorder, path string) *throttledSaver {
	return &throttledSaver{nb: nb, rec: rec, path: path, last: time.Now()}
}

func (t *throttledSaver) changed() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.last) < 2*time.Second {
		return
	}
	t.last = time.Now()
	t.rec.Flush()
	_ = t.nb.WriteFile(t.path) // the final save after the cell reports errors
}

// SyncMirror brings a live session's host mirror up to date with the
// notebook in its sandbox, best effort: a session that is not ready or
// cannot be reached keeps the mirror as it is.
func (m *Manager) SyncMirror(ctx context.Context, id string) {
	rec, err := m.store.Get(id)
	if err != nil || rec.State != StateReady {
		return
	}
	token, err := m.store.Token(id)
	if err != nil {
		return
	}
	srv, err := kernel.NewServer(rec.Endpoint.URL, token)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s := &Session{Record: rec, store: m.store, srv: srv}
	if s.service(ctx) == nil {
		return
	}
	if _, err := os.Stat(m.store.NotebookPath(id)); errors.Is(err, os.ErrNotExist) {
		return
	}
	var a docAnswer
	if err := srv.Call(ctx, http.MethodGet, serviceAPI, s.docQuery(), nil, &a); err != nil {
		return
	}
	if nb, err := parseDoc(a.Notebook); err == nil {
		_ = s.writeMirror(nb)
	}
}
