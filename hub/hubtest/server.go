// Package hubtest is a Hugging Face Hub for tests: it speaks the endpoints
// huggingface_hub and Sena's hub client use (model info by revision, the tree
// listing, resolve with LFS redirects to a separate CDN origin), answers
// errors with the Hub's X-Error-Code headers, and counts what it serves so a
// test can assert that a download made no network transfer.
package hubtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a fake Hub. Its URL goes in HF_ENDPOINT; LFS files are
// redirected to a second origin (the CDN), as the real Hub does, and that
// origin refuses requests that carry an Authorization header, as a signed
// S3 URL does.
type Server struct {
	// URL is the Hub endpoint, for HF_ENDPOINT or Options.Endpoint.
	URL string

	hub, cdn *httptest.Server

	mu        sync.Mutex
	repos     map[string]*repo
	blobs     map[string]*repoFile // etag -> file, for the CDN
	tokens    map[string]bool
	cut       map[string]bool // etag -> cut the next transfer half-way
	corrupt   map[string]bool // etag -> serve altered bytes
	delay     time.Duration
	rate      int64 // bytes per second of each transfer; 0: as fast as it goes
	log       []string
	downloads map[string]int // etag -> transfers of the content

	requests atomic.Int64
	bytes    atomic.Int64
}

// NewServer starts a Hub and its CDN; both stop when the test ends.
func NewServer(t testing.TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a Hub and its CDN on loopback outside a test (a benchmark
// program, say); Close stops them.
func Start() *Server {
	s := &Server{
		repos:     map[string]*repo{},
		blobs:     map[string]*repoFile{},
		tokens:    map[string]bool{},
		cut:       map[string]bool{},
		corrupt:   map[string]bool{},
		downloads: map[string]int{},
	}
	s.hub = httptest.NewServer(s.count("hub", http.HandlerFunc(s.serveHub)))
	s.cdn = httptest.NewServer(s.count("cdn", http.HandlerFunc(s.serveCDN)))
	s.URL = s.hub.URL
	return s
}

// Close stops both origins, dropping connections still open.
func (s *Server) Close() {
	s.hub.CloseClientConnections()
	s.cdn.CloseClientConnections()
	s.hub.Close()
	s.cdn.Close()
}

// AddRepo commits files to model repo id (ORG/NAME) and points revision (a
// branch or tag) at that commit, which it returns. Calling it again for the
// same id adds a commit; other revisions keep theirs. Files named like the
// Hub's default .gitattributes LFS patterns (*.safetensors, *.bin, ...) are
// LFS files: served through the CDN with their sha256 as ETag.
func (s *Server) AddRepo(id, revision string, files map[string][]byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		r = &repo{id: id, refs: map[string]string{}, commits: map[string]*commit{}}
		s.repos[id] = r
	}
	c := &commit{files: map[string]*repoFile{}}
	for name, data := range files {
		f := newRepoFile(name, data)
		c.files[name] = f
		s.blobs[f.etag()] = f
	}
	c.sha = commitID(id, revision, c.files)
	r.commits[c.sha] = c
	r.refs[revision] = c.sha
	return c.sha
}

// AddToken makes token valid. Once any token is added, a request carrying
// another token gets the Hub's 401 "Invalid credentials"; before that, any
// token is accepted.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// Gate makes repo id (added first with AddRepo) gated: its files need a token among allowed (an
// account that accepted the license). Its metadata stays public, as on the Hub.
func (s *Server) Gate(id string, allowed ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	r.gated = map[string]bool{}
	for _, tok := range allowed {
		r.gated[tok] = true
	}
}

// CutOnce makes the next transfer of file's content (at revision) stop half
// way through, closing the connection, as a dropped network would. Like
// Corrupt and Downloads, it panics if the repo, revision or file is unknown.
func (s *Server) CutOnce(id, revision, file string) { s.mark(s.cut, id, revision, file) }

// Corrupt makes every transfer of file's content send altered bytes of the
// right length, so only a checksum can tell.
func (s *Server) Corrupt(id, revision, file string) { s.mark(s.corrupt, id, revision, file) }

func (s *Server) mark(m map[string]bool, id, revision, file string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[s.repos[id].resolve(revision).files[file].etag()] = true
}

// SetDelay holds every file transfer for d before the first byte, so that
// concurrent downloaders overlap.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetRate limits each file transfer to bytesPerSecond (0: no limit), so a
// download takes long enough to watch its progress.
func (s *Server) SetRate(bytesPerSecond int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = bytesPerSecond
}

// Requests is the number of HTTP requests both origins have answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// BytesServed is the number of file-content bytes both origins have sent.
func (s *Server) BytesServed() int64 { return s.bytes.Load() }

// Downloads is how many times file's content (at revision) was sent, in
// whole or in part (a GET answered 200 or 206).
func (s *Server) Downloads(id, revision, file string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads[s.repos[id].resolve(revision).files[file].etag()]
}

// Log lists the requests answered so far, as "origin METHOD path?query".
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// ResetStats zeroes Requests, BytesServed, Downloads and Log.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	s.bytes.Store(0)
	s.log = nil
	s.downloads = map[string]int{}
}

func (s *Server) count(origin string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		line := origin + " " + r.Method + " " + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		s.log = append(s.log, line)
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}
