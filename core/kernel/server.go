package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Server is a Jupyter server: its base URL and token. The token is sent as
// "Authorization: token T" (jupyter_server 1.x refuses bearer) and never
// appears in URLs, errors or logs.
type Server struct {
	base  *url.URL
	token string
	http  *http.Client
	xsrf  string // self-made _xsrf pair for token-less servers
}

// NewServer returns a client for the server at baseURL (its base_url
// included, e.g. "http://127.0.0.1:8888/" or "https://h/user/alice/").
// Use ParseURL first for a URL pasted from a browser.
func NewServer(baseURL, token string) (*Server, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("jupyter base URL must look like http[s]://HOST[:PORT]/[BASE/]")
	}
	if u.RawQuery != "" {
		// Most likely a pasted ?token=...; keeping it would leak it into logs.
		return nil, errors.New("jupyter base URL has a query string: split it with kernel.ParseURL and pass the token separately")
	}
	u.Fragment = ""
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	s := &Server{base: u, token: token, http: newHTTPClient()}
	if token == "" {
		// Without a token, jupyter_server demands Tornado's double-submit XSRF
		// pair on every POST/PUT/DELETE; a made-up value satisfies it.
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		s.xsrf = hex.EncodeToString(b)
	}
	return s, nil
}

// BaseURL returns the server's base URL, ending in "/", without the token.
func (s *Server) BaseURL() string { return s.base.String() }

// endpoint joins path segments onto the base URL, escaping each one (a
// kernel id or file name never splits into two segments).
func (s *Server) endpoint(segs ...string) *url.URL {
	esc := make([]string, len(segs))
	for i, seg := range segs {
		esc[i] = url.PathEscape(seg)
	}
	return s.base.JoinPath(esc...)
}

// apiError is jupyter_server's error body.
type apiError struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// statusError is a non-2xx answer that no sentinel covers.
type statusError struct {
	method, path string
	code         int
	msg          string
}

func (e *statusError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("jupyter %s %s: HTTP %d: %s", e.method, e.path, e.code, e.msg)
	}
	return fmt.Sprintf("jupyter %s %s: HTTP %d", e.method, e.path, e.code)
}

// do sends one API request. body, when non-nil, is sent as JSON; a 2xx
// answer is decoded into out when out is non-nil. 401/403 become ErrAuth and
// transport failures ErrConnection; other statuses are *statusError.
func (s *Server) do(ctx context.Context, method string, u *url.URL, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	s.authorize(req.Header)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	path := strings.TrimPrefix(u.Path, s.base.Path)
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("jupyter %s %s: %w", method, path, ctx.Err())
		}
		return errorf(ErrConnection, "jupyter %s %s at %s: %v (is the server running and the URL right?)",
			method, path, s.BaseURL(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return errorf(ErrConnection, "jupyter %s %s: reading the answer: %v", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return errorf(ErrAuth, "jupyter server at %s answered %s %s with HTTP %d: pass the token shown in the server's URL (?token=...)",
			s.BaseURL(), method, path, resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		var ae apiError
		_ = json.Unmarshal(data, &ae)
		return &statusError{method: method, path: path, code: resp.StatusCode, msg: ae.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("jupyter %s %s: unexpected answer (is %s a Jupyter server?): %v", method, path, s.BaseURL(), err)
		}
	}
	return nil
}

// authorize sets the token header, or the XSRF pair on a token-less server.
func (s *Server) authorize(h http.Header) {
	if s.token != "" {
		h.Set("Authorization", "token "+s.token)
		return
	}
	h.Set("Cookie", "_xsrf="+s.xsrf)
	h.Set("X-XSRFToken", s.xsrf)
}

// unwrapURLError drops *url.Error's "Get "URL":" prefix, which repeats what
// the caller already says.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isStatus reports whether err is a *statusError with the given code.
func isStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.code == code
}

// Version returns the server's jupyter_server version (GET /api).
func (s *Server) Version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	if err := s.do(ctx, http.MethodGet, s.endpoint("api"), nil, &v); err != nil {
		return "", err
	}
	if v.Version == "" {
		return "", fmt.Errorf("GET %sapi has no version: is it a Jupyter server?", s.BaseURL())
	}
	return v.Version, nil
}

// WaitReady polls GET /api/status with the token until it answers 200,
// backing off up to 2 s between tries. A rejected token fails at once with
// ErrAuth; when ctx ends first the error wraps ErrConnection and says why the
// last try failed.
func (s *Server) WaitReady(ctx context.Context) error {
	delay := 50 * time.Millisecond
	for {
		err := s.do(ctx, http.MethodGet, s.endpoint("api", "status"), nil, nil)
		if err == nil || errors.Is(err, ErrAuth) {
			return err
		}
		select {
		case <-ctx.Done():
			return errorf(ErrConnection, "jupyter server at %s not ready: %v", s.BaseURL(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Call sends a request to an API of the server's, such as a server
// extension's: path is relative to the base URL ("sena/api/notebook"),
// body (when non-nil) is sent as JSON and a 2xx answer decoded into out.
// Errors are those of the REST calls; HTTPStatus tells their status.
func (s *Server) Call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := s.endpoint(strings.Split(strings.Trim(path, "/"), "/")...)
	u.RawQuery = query.Encode()
	return s.do(ctx, method, u, body, out)
}

// HTTPStatus is the HTTP status of a failed call, 0 when it failed otherwise.
func HTTPStatus(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}
