package hubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// hubError answers as the Hub does: a status, X-Error-Code (read by
// huggingface_hub to pick its exception) and X-Error-Message.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveHub routes /api/models/ORG/NAME[/revision/REV | /tree/REV[/PATH] | /auth-check]
// and /ORG/NAME/resolve/REV/PATH. It splits the escaped path, so a revision
// such as refs%2Fpr%2F1 stays one segment.
func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		parts[i], _ = url.PathUnescape(p)
	}
	api := len(parts) >= 4 && parts[0] == "api" && parts[1] == "models"
	if api {
		parts = parts[2:]
	}
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	id, rest := parts[0]+"/"+parts[1], parts[2:]

	s.mu.Lock()
	defer s.mu.Unlock()
	tok := bearer(r)
	if tok != "" && len(s.tokens) > 0 && !s.tokens[tok] {
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
		return
	}
	rp := s.repos[id]
	if rp == nil {
		// The Hub does not tell a missing repo from a private one: 401 without a token, 404 with one.
		status := http.StatusNotFound
		if tok == "" {
			status = http.StatusUnauthorized
		}
		hubError(w, status, "RepoNotFound", "Repository not found")
		return
	}

	switch {
	case api && len(rest) == 0:
		s.info(w, r, rp, "main")
	case api && len(rest) == 2 && rest[0] == "revision":
		s.info(w, r, rp, rest[1])
	case api && len(rest) == 1 && rest[0] == "auth-check":
		if s.gateRefuses(w, rp, tok) {
			return
		}
		writeJSON(w, map[string]any{})
	case api && len(rest) >= 2 && rest[0] == "tree":
		s.tree(w, r, rp, rest[1], strings.Join(rest[2:], "/"))
	case !api && len(rest) >= 3 && rest[0] == "resolve":
		s.resolve(w, r, rp, tok, rest[1], strings.Join(rest[2:], "/"))
	default:
		http.NotFound(w, r)
	}
}

func revisionNotFound(w http.ResponseWriter, rev string) {
	hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
}

// info answers model_info: the commit sha and the file list ("siblings"),
// with blob ids, sizes and LFS sha256 when asked with ?blobs=true.
func (s *Server) info(w http.ResponseWriter, r *http.Request, rp *repo, rev string) {
	c := rp.resolve(rev)
	if c == nil {
		revisionNotFound(w, rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true" || r.URL.Query().Get("blobs") == "True"
	siblings := []map[string]any{}
	for _, name := range sortedNames(c.files) {
		f := c.files[name]
		sib := map[string]any{"rfilename": name}
		if blobs {
			sib["blobId"] = f.oid
			sib["size"] = len(f.data)
			if f.lfs {
				sib["lfs"] = map[string]any{"sha256": f.sha256, "size": len(f.data), "pointerSize": f.ptrLen}
			}
		}
		siblings = append(siblings, sib)
	}
	org, _, _ := strings.Cut(rp.id, "/")
	writeJSON(w, map[string]any{
		"_id": "hubtest-" + rp.id, "id": rp.id, "modelId": rp.id, "author": org, "sha": c.sha,
		"lastModified": "2024-01-01T00:00:00.000Z", "private": false, "disabled": false,
		"gated": gatedField(rp), "tags": []string{"transformers"}, "library_name": "transformers",
		"siblings": siblings,
	})
}

func gatedField(rp *repo) any {
	if rp.gated != nil {
		return "manual"
	}
	return false
}

// tree answers list_repo_tree: files and folders under dir, one page.
func (s *Server) tree(w http.ResponseWriter, r *http.Request, rp *repo, rev, dir string) {
	c := rp.resolve(rev)
	if c == nil {
		revisionNotFound(w, rev)
		return
	}
	q := r.URL.Query().Get("recursive")
	recursive := q == "true" || q == "True" || q == "1"
	entries := []map[string]any{}
	for _, d := range dirsOf(c.files) {
		if inDir(d, dir, recursive) {
			entries = append(entries, map[string]any{"type": "directory", "oid": gitBlobID([]byte(d)), "size": 0, "path": d})
		}
	}
	for _, name := range sortedNames(c.files) {
		if !inDir(name, dir, recursive) {
			continue
		}
		f := c.files[name]
		e := map[string]any{"type": "file", "oid": f.oid, "size": len(f.data), "path": name}
		if f.lfs {
			e["lfs"] = map[string]any{"oid": f.sha256, "size": len(f.data), "pointerSize": f.ptrLen}
		}
		entries = append(entries, e)
	}
	writeJSON(w, entries)
}

// resolve answers /ORG/NAME/resolve/REV/PATH as the Hub does: regular files
// directly with their git blob id as ETag; LFS files with a 302 to the CDN,
// announcing the sha256 and size in X-Linked-Etag and X-Linked-Size.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, rp *repo, tok, rev, name string) {
	if s.gateRefuses(w, rp, tok) {
		return
	}
	c := rp.resolve(rev)
	if c == nil {
		revisionNotFound(w, rev)
		return
	}
	w.Header().Set("X-Repo-Commit", c.sha)
	f := c.files[name]
	if f == nil {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if f.lfs {
		w.Header().Set("ETag", `"`+f.oid+`"`)
		w.Header().Set("X-Linked-Etag", `"`+f.sha256+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(f.data)))
		w.Header().Set("Location", s.cdn.URL+"/lfs/"+f.sha256+"?X-Amz-Signature=hubtest")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.oid+`"`)
	s.send(w, r, f)
}

// gateRefuses answers the Hub's GatedRepo error when rp is gated and tok
// is not among the accounts that accepted its license.
func (s *Server) gateRefuses(w http.ResponseWriter, rp *repo, tok string) bool {
	if rp.gated == nil || rp.gated[tok] {
		return false
	}
	if tok == "" {
		hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf(
			"Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in.", rp.id))
	} else {
		hubError(w, http.StatusForbidden, "GatedRepo", fmt.Sprintf(
			"Access to model %s is restricted and you are not in the authorized list. Visit %s/%s to ask for access.", rp.id, s.URL, rp.id))
	}
	return true
}

// serveCDN serves LFS content by sha256, refusing a second credential as S3 does.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		http.Error(w, "Only one auth mechanism allowed; the signed URL already authenticates this request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	f := s.blobs[strings.TrimPrefix(r.URL.Path, "/lfs/")]
	s.mu.Unlock()
	if f == nil || !f.lfs {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"`+f.sha256+`"`)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send(w, r, f)
}

// send streams a file's content with Range support, applying the delay,
// corruption and cut a test asked for. The caller holds s.mu; it is released
// while the content flows, so concurrent transfers overlap.
func (s *Server) send(w http.ResponseWriter, r *http.Request, f *repoFile) {
	etag := f.etag()
	data, delay, rate := f.data, s.delay, s.rate
	if s.corrupt[etag] && len(data) > 0 {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	cut := false
	if r.Method == http.MethodGet {
		cut = s.cut[etag]
		delete(s.cut, etag)
		s.downloads[etag]++
	}
	s.mu.Unlock()
	defer s.mu.Lock()

	if r.Method == http.MethodGet && delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	cw := &countingWriter{ResponseWriter: w, s: s, rate: rate}
	if cut {
		cw.cutAt = int64(len(data)) / 2
	}
	w.Header().Set("Accept-Ranges", "bytes")
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
}

// countingWriter counts body bytes and, when cutAt is set, drops the
// connection after sending that many.
type countingWriter struct {
	http.ResponseWriter
	s       *Server
	written int64
	cutAt   int64
	rate    int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.cutAt > 0 && c.written+int64(len(p)) > c.cutAt {
		p = p[:c.cutAt-c.written]
		n, _ := c.ResponseWriter.Write(p)
		c.s.bytes.Add(int64(n))
		http.NewResponseController(c.ResponseWriter).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	if c.rate > 0 { // in slices of a tenth of a second, flushed, so progress shows
		var sent int
		for len(p) > 0 {
			k := min(len(p), int(max(c.rate/10, 1)))
			n, err := c.ResponseWriter.Write(p[:k])
			sent += n
			c.written += int64(n)
			c.s.bytes.Add(int64(n))
			if err != nil {
				return sent, err
			}
			http.NewResponseController(c.ResponseWriter).Flush()
			time.Sleep(time.Duration(int64(n) * int64(time.Second) / c.rate))
			p = p[k:]
		}
		return sent, nil
	}
	n, err := c.ResponseWriter.Write(p)
	c.written += int64(n)
	c.s.bytes.Add(int64(n))
	return n, err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
