package kernel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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
