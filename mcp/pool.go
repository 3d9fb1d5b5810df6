package mcp

import (
	"context"
	"errors"
	"sync"

	"github.com/sena-labs/sena/core/session"
)

// pool keeps one live *session.Session per session id. Sessions Sena
// recorded are attached on first use, so a restarted server picks up
// sessions an earlier process started; sessions attached by URL exist only
// here. Executions on one session queue on the session's own cross-process
// lock, so the pool only has to make sure each id is attached once.
type pool struct {
	m     *session.Manager
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	mu       sync.Mutex // held while attaching
	s        *session.Session
	external bool
}

func newPool(m *session.Manager) *pool {
	return &pool{m: m, slots: map[string]*slot{}}
}

func (p *pool) slot(id string) *slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := p.slots[id]
	if sl == nil {
		sl = &slot{}
		p.slots[id] = sl
	}
	return sl
}

// get returns the live session, attaching to a recorded one if needed.
func (p *pool) get(ctx context.Context, id string) (*session.Session, error) {
	sl := p.slot(id)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.s != nil {
		return sl.s, nil
	}
	s, err := p.m.Attach(ctx, id)
	if err != nil {
		p.drop(id, sl)
		return nil, err
	}
	sl.s = s
	return s, nil
}

// addExternal keeps a session attached by URL.
func (p *pool) addExternal(s *session.Session) {
	sl := p.slot(s.ID)
	sl.mu.Lock()
	sl.s, sl.external = s, true
	sl.mu.Unlock()
}

// isExternal reports whether id is a session attached by URL here.
func (p *pool) isExternal(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sl := p.slots[id]
	return sl != nil && sl.external
}

// attachedIDs lists the sessions with a live connection here.
func (p *pool) attached() map[string]*session.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]*session.Session{}
	for id, sl := range p.slots {
		if sl.s != nil {
			out[id] = sl.s
		}
	}
	return out
}

// forget closes and removes a session's connection; a recorded session is
// attached again on its next use.
func (p *pool) forget(id string) {
	p.mu.Lock()
	sl := p.slots[id]
	p.mu.Unlock()
	if sl == nil {
		return
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.s != nil {
		sl.s.Close()
		sl.s = nil
	}
	p.drop(id, sl)
}

func (p *pool) drop(id string, sl *slot) {
	p.mu.Lock()
	if p.slots[id] == sl {
		delete(p.slots, id)
	}
	p.mu.Unlock()
}

// close drops every connection. Recorded sessions keep running (`sena ls`
// shows them); kernels started on external servers are shut down, since
// nothing else knows about them.
func (p *pool) close(ctx context.Context) error {
	var errs []error
	for id, s := range p.attached() {
		if p.isExternal(id) {
			errs = append(errs, s.Shutdown(ctx))
		} else {
			s.Close()
		}
	}
	p.mu.Lock()
	p.slots = map[string]*slot{}
	p.mu.Unlock()
	return errors.Join(errs...)
}
