package session

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sena-labs/sena/core"
)

// Resolve returns the session id that id names: the id itself, or the one
// session whose id starts with it. A prefix that fits several is an error
// (core.ErrInvalidConfig) listing them; one that fits none wraps
// core.ErrNotFound.
func (m *Manager) Resolve(id string) (string, error) {
	ids, err := m.store.ids("sessions", ".json")
	if err != nil {
		return "", err
	}
	return resolve(id, ids, m.store.Dir)
}

// OnlySession is the id of the one ready session, for commands that need
// no id when there is exactly one; an error says how many there are.
func (m *Manager) OnlySession() (string, error) {
	recs, err := m.store.List()
	if err != nil {
		return "", err
	}
	var ready []string
	for _, r := range recs {
		if r.State == StateReady {
			ready = append(ready, r.ID)
		}
	}
	switch len(ready) {
	case 1:
		return ready[0], nil
	case 0:
		return "", core.Errorf(core.ErrNotFound, "no session is running in %s: start one with `sena up`", m.store.Dir)
	}
	return "", core.Errorf(core.ErrInvalidConfig, "%d sessions are running (%s): name one", len(ready), strings.Join(ready, ", "))
}

func resolve(id string, ids []string, dir string) (string, error) {
	if slices.Contains(ids, id) {
		return id, nil
	}
	var matches []string
	if id != "" {
		for _, x := range ids {
			if strings.HasPrefix(x, id) {
				matches = append(matches, x)
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", core.Errorf(core.ErrNotFound, "no session %q in %s: `sena ls` lists the sessions", id, dir)
	}
	return "", core.Errorf(core.ErrInvalidConfig, "session id %q is ambiguous: it starts %s; give more of it", id, strings.Join(matches, ", "))
}

// NotebookIDs are the sessions with a notebook mirror, down ones included.
func (s *Store) NotebookIDs() ([]string, error) { return s.ids("notebooks", ".ipynb") }

// ids lists the names in the store's sub folder that end in ext, without it.
func (s *Store) ids(sub, ext string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, sub))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ext); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
