package session

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// Files in the sandbox go through Jupyter's contents API, so they work
// wherever the kernel does (local, Docker, Modal, a server attached by
// URL). Paths are relative to the sandbox's work dir, the Jupyter root.

// MaxFileBytes bounds a file read or written through the contents API in
// one call: it travels base64 in one JSON body, and through an agent's
// context. Larger files belong to the kernel (open() in execute_code).
const MaxFileBytes = 8 << 20

// filePath confines p to the work dir: a relative path without .. parts,
// or an absolute one inside the work dir as the sandbox sees it.
func (s *Session) filePath(p string) (string, error) {
	orig := p
	p = strings.TrimSpace(p)
	if wd := strings.TrimRight(s.Endpoint.WorkDir, "/"); wd != "" && (p == wd || strings.HasPrefix(p, wd+"/")) {
		p = strings.TrimPrefix(p, wd)
	} else if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") {
		return "", core.Errorf(core.ErrInvalidConfig, "path %q is outside the sandbox's work dir: give a path relative to it (the kernel's working directory%s)", orig, workDirHint(s.Endpoint.WorkDir))
	}
	p = strings.Trim(p, "/")
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", core.Errorf(core.ErrInvalidConfig, "path %q leaves the sandbox's work dir: paths stay inside it (no .. parts)", orig)
		}
	}
	p = path.Clean("/" + p)[1:]
	return p, nil
}

func workDirHint(wd string) string {
	if wd == "" {
		return ""
	}
	return ", " + wd
}

// ListFiles lists the directory at p ("" is the work dir).
func (s *Session) ListFiles(ctx context.Context, p string) ([]kernel.Entry, error) {
	p, err := s.filePath(p)
	if err != nil {
		return nil, err
	}
	l, err := s.srv.ListDir(ctx, p)
	return l, fileError(err)
}

// ReadFile returns the file at p with its description; files over max
// bytes (MaxFileBytes at most) are refused, not cut.
func (s *Session) ReadFile(ctx context.Context, p string, max int64) ([]byte, *kernel.Entry, error) {
	p, err := s.filePath(p)
	if err != nil {
		return nil, nil, err
	}
	if p == "" {
		return nil, nil, core.Errorf(core.ErrInvalidConfig, "give a file's path (list_files shows them)")
	}
	e, err := s.srv.Stat(ctx, p)
	if err != nil {
		return nil, nil, fileError(err)
	}
	if e.Type == "directory" {
		return nil, e, core.Errorf(core.ErrInvalidConfig, "%s is a directory: list_files lists it", p)
	}
	if max <= 0 || max > MaxFileBytes {
		max = MaxFileBytes
	}
	if e.Size != nil && *e.Size > max {
		return nil, e, core.Errorf(core.ErrInvalidConfig, "%s is %d bytes, over the %d this tool reads: read the part you need in the kernel (execute_code with open())", p, *e.Size, max)
	}
	data, err := s.srv.GetFile(ctx, p)
	return data, e, fileError(err)
}

// WriteFile writes data to p, creating missing directories. The session's
// own notebook is refused: Sena writes it, cell by cell.
func (s *Session) WriteFile(ctx context.Context, p string, data []byte) error {
	p, err := s.filePath(p)
	if err != nil {
		return err
	}
	switch {
	case p == "":
		return core.Errorf(core.ErrInvalidConfig, "give a file's path, relative to the work dir")
	case p == s.Record.Notebook:
		return core.Errorf(core.ErrInvalidConfig, "%s is this session's notebook, which Sena writes: change it with the cell tools (insert_cell, edit_cell, delete_cell)", p)
	case len(data) > MaxFileBytes:
		return core.Errorf(core.ErrInvalidConfig, "%d bytes is over the %d one write_file takes: write large files from the kernel", len(data), MaxFileBytes)
	}
	if e, err := s.srv.Stat(ctx, p); err == nil && e.Type == "directory" {
		return core.Errorf(core.ErrInvalidConfig, "%s is a directory", p)
	}
	return fileError(s.srv.PutFile(ctx, p, data))
}

// fileError makes a missing file an input error with the next step.
func fileError(err error) error {
	if errors.Is(err, kernel.ErrFileNotFound) {
		return core.Errorf(core.ErrInvalidConfig, "%v (list_files shows what is there; hidden files, starting with a dot, are not shown by Jupyter)", err)
	}
	return err
}
