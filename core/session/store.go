package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/atomicfile"
)

// Store keeps session records on disk so any later sena process can find,
// exec into, list or stop a session. Layout under Dir:
//
//	key                 per-user secret from which Jupyter tokens are derived (0600)
//	sessions/ID.json    one record per live session (0600)
//	sessions/ID.lock    serialises executions on one session across processes
//	notebooks/ID.ipynb  the host mirror of the session's notebook (kept after down)
//	sandboxes/ID/       work directory for sandboxes that run on the host
//	pools/ID.json       one record per warm pool (Pool), with its keeper's log ID.log
type Store struct {
	Dir string
}

// DefaultStateDir is $SENA_STATE_DIR, else $XDG_STATE_HOME/sena, else ~/.local/state/sena.
func DefaultStateDir() string {
	if d := os.Getenv("SENA_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "sena")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "sena-state")
	}
	return filepath.Join(home, ".local", "state", "sena")
}

// OpenStore prepares dir (0700) for use.
func OpenStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"sessions", "notebooks", "sandboxes", "pools"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("state dir %s: %w", abs, err)
		}
	}
	return &Store{Dir: abs}, nil
}

// Owner is the value of core.LabelStateDir for sandboxes this store owns,
// so gc in one state dir never touches another's sandboxes.
func (s *Store) Owner() string {
	sum := sha256.Sum256([]byte(s.Dir))
	return hex.EncodeToString(sum[:6])
}

func (s *Store) recordPath(id string) string { return filepath.Join(s.Dir, "sessions", id+".json") }

// NotebookPath is where the session's notebook is mirrored on the host.
func (s *Store) NotebookPath(id string) string {
	return filepath.Join(s.Dir, "notebooks", id+".ipynb")
}

// SandboxDir is the host work directory reserved for the session's sandbox.
func (s *Store) SandboxDir(id string) string { return filepath.Join(s.Dir, "sandboxes", id) }

// Put writes a record atomically with mode 0600.
func (s *Store) Put(r *Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.recordPath(r.ID), data, 0o600)
}

// Get reads a record; the error wraps core.ErrNotFound when there is none.
func (s *Store) Get(id string) (*Record, error) {
	if !validID(id) {
		return nil, core.Errorf(core.ErrNotFound, "no session %q: `sena ls` lists the sessions", id)
	}
	data, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, core.Errorf(core.ErrNotFound, "no session %q in %s: `sena ls` lists the sessions", id, s.Dir)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("session record %s is damaged: %w", s.recordPath(id), err)
	}
	return upgradeRecord(&r, s.recordPath(id))
}

// upgradeRecord reads a record of an older format as the current one, and
// refuses one written by a newer sena.
func upgradeRecord(r *Record, path string) (*Record, error) {
	switch {
	case r.Version > RecordVersion:
		return nil, core.Errorf(core.ErrInvalidConfig, "session record %s has format %d, newer than this sena reads (%d): use the sena that started it, or upgrade", path, r.Version, RecordVersion)
	case r.Version < RecordVersion:
		// Format 1 had the interpreter in python; it is an option now.
		if err := r.Config.Normalize(); err != nil {
			return nil, fmt.Errorf("session record %s (format %d): %w", path, r.Version, err)
		}
		r.Version = RecordVersion
	}
	return r, nil
}

// List returns every record, oldest first.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "sessions"))
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		r, err := s.Get(id)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				continue // removed by a concurrent down
			}
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Delete removes a record and its lock file; the notebook mirror stays.
func (s *Store) Delete(id string) error {
	err := os.Remove(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	_ = os.Remove(filepath.Join(s.Dir, "sessions", id+".lock"))
	_ = os.Remove(filepath.Join(s.Dir, "sessions", id+".claim"))
	_ = os.Remove(s.kernelPath(id))
	return err
}

func (s *Store) kernelPath(id string) string { return filepath.Join(s.Dir, "sessions", id+".kernel") }

// KernelIdentity is the kernel process a session's callers last saw (its
// kernel_info session id), "" when none is recorded: a later process that
// finds another knows the kernel restarted in between.
func (s *Store) KernelIdentity(id string) string {
	b, _ := os.ReadFile(s.kernelPath(id))
	return strings.TrimSpace(string(b))
}

// SetKernelIdentity records the kernel process a caller now sees.
func (s *Store) SetKernelIdentity(id, kernel string) error {
	if kernel == "" {
		return nil
	}
	return atomicfile.Write(s.kernelPath(id), []byte(kernel+"\n"), 0o600)
}

// Lock takes the session's exclusive lock, waiting (in queue order of the
// kernel's flock) until it is free or ctx ends. Unlock with the returned func.
func (s *Store) Lock(ctx context.Context, id string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "sessions", id+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock session %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another execution on session %s: %w", id, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// keySize is the length of the per-user secret, an HMAC-SHA256 key.
const keySize = 32

// key returns the per-user secret from which Jupyter tokens are derived,
// creating it on first use. A key file of any other length is an error,
// never used: a short key would make every token guessable from its
// session id, which `ps` shows. The first creation is atomic (written in
// full to a temporary file, synced, then linked into place, which fails
// if another sena won the race; the loser reads the winner's key).
func (s *Store) key() ([]byte, error) {
	path := filepath.Join(s.Dir, "key")
	k, err := os.ReadFile(path)
	switch {
	case err == nil && len(k) == keySize:
		return k, nil
	case err == nil:
		return nil, fmt.Errorf("the key file %s is damaged (%d bytes, want %d), so Sena will not derive Jupyter tokens from it: "+
			"stop your sessions (`sena down --all`), remove the file, and Sena makes a new one", path, len(k), keySize)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	k = make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(s.Dir, ".key.*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(k); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write the key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return s.key() // another sena made it first
	} else if err != nil {
		return nil, err
	}
	return k, nil
}

// validID keeps ids usable as file names and backend names.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
