package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/notebook"
)

// A snapshot is a session's work dir (its files, package environment,
// libraries, skills and repos) and notebook, saved on the machine running
// sena under the state dir, to start a session from later on the same
// provider. It is taken through the kernel and Jupyter, so every provider
// can; what lies outside the work dir (the image, mounts, models) is not in
// it: models and mounts are given again at up.
type Snapshot struct {
	Name      string    `json:"name"`
	Session   string    `json:"session"`
	Provider  string    `json:"provider"`
	Python    string    `json:"python,omitempty"` // the kernel's interpreter
	Image     string    `json:"image,omitempty"`
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"created_at"`
	Skills    []Skill   `json:"skills,omitempty"`
	Repos     []Repo    `json:"repos,omitempty"`
}

// MaxSnapshotBytes bounds a snapshot's archive: it travels through
// Jupyter's contents API, in memory.
const MaxSnapshotBytes = 1 << 30

const snapshotArchive = "sena-snapshot.tar.gz" // not hidden: Jupyter serves no dot files

func (s *Store) snapshotDir(name string) string { return filepath.Join(s.Dir, "snapshots", name) }

// Snapshots lists the saved snapshots, newest first.
func (s *Store) Snapshots() ([]Snapshot, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "snapshots"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, e := range entries {
		if sn, err := s.Snapshot(e.Name()); err == nil {
			out = append(out, *sn)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// Snapshot reads one snapshot's description.
func (s *Store) Snapshot(name string) (*Snapshot, error) {
	if !core.SnapshotName(name) {
		return nil, core.Errorf(core.ErrInvalidConfig, "snapshot %q: a snapshot name is letters, digits, '.', '_' and '-'", name)
	}
	data, err := os.ReadFile(filepath.Join(s.snapshotDir(name), "snapshot.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, core.Errorf(core.ErrNotFound, "no snapshot %s (`sena snapshots` lists them)", name)
	}
	if err != nil {
		return nil, err
	}
	var sn Snapshot
	if err := json.Unmarshal(data, &sn); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", name, err)
	}
	return &sn, nil
}

// DeleteSnapshot removes a saved snapshot.
func (s *Store) DeleteSnapshot(name string) error {
	if _, err := s.Snapshot(name); err != nil {
		return err
	}
	return os.RemoveAll(s.snapshotDir(name))
}

// Snapshot saves session id's work dir and notebook as snapshot name
// (default: the session id and the time). A name already taken is refused
// before anything is packed.
func (m *Manager) Snapshot(ctx context.Context, id, name string) (*Snapshot, error) {
	if name == "" {
		name = id + "-" + time.Now().UTC().Format("20060102-150405")
	}
	if !core.SnapshotName(name) {
		return nil, core.Errorf(core.ErrInvalidConfig, "snapshot %q: a snapshot name is letters, digits, '.', '_' and '-'", name)
	}
	dir := m.store.snapshotDir(name)
	if _, err := os.Stat(dir); err == nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "snapshot %s exists already: give another --name, or delete it with `sena snapshots --delete %s`", name, name)
	}
	s, err := m.Attach(ctx, id)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if s.Provider == ExternalProvider {
		return nil, core.Errorf(core.ErrUnsupported, "session %s runs on a Jupyter server Sena did not start: it cannot be restarted from a snapshot", id)
	}
	exclude := []string{s.Record.Notebook}
	for _, mc := range s.Config.Mounts {
		if mc.Target == "" {
			exclude = append(exclude, path.Join(mountsDir, filepath.Base(mc.Source)))
		} else if !path.IsAbs(mc.Target) {
			exclude = append(exclude, path.Clean(mc.Target))
		}
	}
	var packed struct{ Bytes int64 }
	if err := s.quiet(ctx, "snapshot_pack", map[string]any{"out": snapshotArchive, "exclude": exclude}, &packed, nil); err != nil {
		return nil, fmt.Errorf("snapshot %s: pack the work dir: %w", id, err)
	}
	defer s.quiet(context.WithoutCancel(ctx), "remove_file", map[string]any{"path": snapshotArchive}, nil, nil)
	if packed.Bytes > MaxSnapshotBytes {
		return nil, core.Errorf(core.ErrInvalidConfig, "session %s's work dir packs to %d MiB, over the %d MiB a snapshot holds: move large outputs out of the work dir (or into a mount)", id, packed.Bytes>>20, MaxSnapshotBytes>>20)
	}
	archive, err := s.srv.GetFile(ctx, snapshotArchive)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: fetch the archive: %w", id, err)
	}
	nb, err := os.ReadFile(m.store.NotebookPath(id))
	if err != nil {
		return nil, err
	}
	sn := &Snapshot{Name: name, Session: id, Provider: s.Provider, Bytes: int64(len(archive)), CreatedAt: time.Now().UTC(), Skills: s.Skills, Repos: s.Repos}
	if env := s.Environment; env != nil {
		sn.Python, sn.Image = env.Python.Executable, env.Image
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	meta, _ := json.MarshalIndent(sn, "", "  ")
	for f, data := range map[string][]byte{"work.tar.gz": archive, "notebook.ipynb": nb, "snapshot.json": meta} {
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o600); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return sn, nil
}

// fromSnapshot is a snapshot an up starts from, read before anything is
// created.
type fromSnapshot struct {
	meta     *Snapshot
	notebook *notebook.Notebook
}

// planFromSnapshot reads the snapshot cfg names and adds its archive to
// the sandbox's files; a snapshot of another provider is refused.
func (m *Manager) planFromSnapshot(cfg *core.SandboxConfig, caps core.Capabilities, spec *core.SandboxSpec) (*fromSnapshot, error) {
	if cfg.FromSnapshot == "" {
		return nil, nil
	}
	sn, err := m.store.Snapshot(cfg.FromSnapshot)
	if err != nil {
		return nil, err
	}
	if sn.Provider != cfg.Provider {
		return nil, core.Errorf(core.ErrInvalidConfig, "snapshot %s was taken on provider %s: its environment runs there; start it with --provider %s", sn.Name, sn.Provider, sn.Provider)
	}
	if !caps.Honours(core.FieldFiles) {
		return nil, core.Errorf(core.ErrUnsupported, "provider %s cannot copy files into the sandbox, so it cannot start from a snapshot", cfg.Provider)
	}
	dir := m.store.snapshotDir(sn.Name)
	archive, err := os.ReadFile(filepath.Join(dir, "work.tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sn.Name, err)
	}
	nb, err := notebook.ReadFile(filepath.Join(dir, "notebook.ipynb"))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", sn.Name, err)
	}
	if spec.Files == nil {
		spec.Files = map[string][]byte{}
	}
	spec.Files[snapshotArchive] = archive
	return &fromSnapshot{meta: sn, notebook: nb}, nil
}
