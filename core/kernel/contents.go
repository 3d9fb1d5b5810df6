package kernel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// contentsPath splits a contents path into segments, refusing ones that
// would escape the server's root.
func contentsPath(p string) ([]string, error) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, fmt.Errorf("contents path %q: want a relative path like dir/file.txt, without empty, . or .. parts", p)
		}
	}
	return segs, nil
}

// SaveNotebook writes nb, a notebook's JSON, to path (PUT /api/contents,
// type notebook), creating missing parent directories.
func (s *Server) SaveNotebook(ctx context.Context, path string, nb []byte) error {
	if !json.Valid(nb) {
		return fmt.Errorf("save notebook %q: the notebook is not valid JSON", path)
	}
	return s.put(ctx, path, map[string]any{
		"type": "notebook", "format": "json", "content": json.RawMessage(nb),
	})
}

// PutFile uploads data to path (base64, PUT /api/contents, type file),
// creating missing parent directories. The contents API limits a request to
// the server's max_body_size (512 MiB by default); use the backend's own file
// transfer for model weights.
func (s *Server) PutFile(ctx context.Context, path string, data []byte) error {
	return s.put(ctx, path, map[string]any{
		"type": "file", "format": "base64", "content": base64.StdEncoding.EncodeToString(data),
	})
}

func (s *Server) put(ctx context.Context, path string, model map[string]any) error {
	segs, err := contentsPath(path)
	if err != nil {
		return err
	}
	// Creating an existing directory is a no-op on 1.x and 2.x.
	for i := 1; i < len(segs); i++ {
		dir := append([]string{"api", "contents"}, segs[:i]...)
		if err := s.do(ctx, http.MethodPut, s.endpoint(dir...), map[string]string{"type": "directory"}, nil); err != nil {
			return err
		}
	}
	return s.do(ctx, http.MethodPut, s.endpoint(append([]string{"api", "contents"}, segs...)...), model, nil)
}

// GetFile returns the bytes of the file at path; ErrFileNotFound if none.
func (s *Server) GetFile(ctx context.Context, path string) ([]byte, error) {
	segs, err := contentsPath(path)
	if err != nil {
		return nil, err
	}
	u := s.endpoint(append([]string{"api", "contents"}, segs...)...)
	u.RawQuery = "type=file&format=base64&content=1"
	var m struct {
		Content string `json:"content"`
		Format  string `json:"format"`
	}
	err = s.do(ctx, http.MethodGet, u, nil, &m)
	if isStatus(err, http.StatusNotFound) {
		return nil, errorf(ErrFileNotFound, "no file %q under the root of %s", path, s.BaseURL())
	}
	if err != nil {
		return nil, err
	}
	if m.Format != "base64" {
		return nil, fmt.Errorf("get file %q: server sent format %q, want base64", path, m.Format)
	}
	// Python's base64 may wrap lines.
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(m.Content, "\n", ""))
	if err != nil {
		return nil, fmt.Errorf("get file %q: bad base64 from server: %v", path, err)
	}
	return b, nil
}

// Entry is a file or directory in the server's contents, as the contents
// API describes it (without its content).
type Entry struct {
	Name         string    `json:"name"`
	Path         string    `json:"path"`
	Type         string    `json:"type"` // file, notebook or directory
	Size         *int64    `json:"size"` // bytes; nil for directories
	LastModified time.Time `json:"last_modified"`
	Mimetype     string    `json:"mimetype"`
}

// contentsURL is the contents API URL of path; "" is the root.
func (s *Server) contentsURL(path string) (*url.URL, error) {
	if strings.Trim(path, "/") == "" {
		return s.endpoint("api", "contents"), nil
	}
	segs, err := contentsPath(path)
	if err != nil {
		return nil, err
	}
	return s.endpoint(append([]string{"api", "contents"}, segs...)...), nil
}

// Stat describes the file or directory at path ("" is the root) without
// reading it; ErrFileNotFound if there is none.
func (s *Server) Stat(ctx context.Context, path string) (*Entry, error) {
	u, err := s.contentsURL(path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = "content=0"
	var e Entry
	err = s.do(ctx, http.MethodGet, u, nil, &e)
	if isStatus(err, http.StatusNotFound) {
		return nil, errorf(ErrFileNotFound, "no file or directory %q under the root of %s", path, s.BaseURL())
	}
	return &e, err
}

// ListDir lists the directory at path ("" is the root), as Jupyter shows
// it (hidden files are left out unless the server allows them).
func (s *Server) ListDir(ctx context.Context, path string) ([]Entry, error) {
	u, err := s.contentsURL(path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = "type=directory&content=1"
	var m struct {
		Content []Entry `json:"content"`
	}
	err = s.do(ctx, http.MethodGet, u, nil, &m)
	switch {
	case isStatus(err, http.StatusNotFound):
		return nil, errorf(ErrFileNotFound, "no directory %q under the root of %s", path, s.BaseURL())
	case isStatus(err, http.StatusBadRequest):
		return nil, fmt.Errorf("%q is a file, not a directory", path)
	case err != nil:
		return nil, err
	}
	return m.Content, nil
}
