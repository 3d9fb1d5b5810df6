package kernel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, base, token string }{
		{"http://127.0.0.1:8888/lab?token=abc", "http://127.0.0.1:8888/", "abc"},
		{"http://h:1/", "http://h:1/", ""},
		{"http://h:1", "http://h:1/", ""},
		{"  https://h/user/alice/lab/tree/work/a.ipynb?token=t%2Bx#frag ", "https://h/user/alice/", "t+x"},
		{"http://h/proxy/abc/notebooks/x.ipynb", "http://h/proxy/abc/", ""},
		{"http://h/base/tree", "http://h/base/", ""},
		{"http://h/base/api/kernels?token=z", "http://h/base/", "z"},
		{"http://h/doc/tree/a.ipynb", "http://h/", ""},
		{"https://x.modal.host/?token=q&other=1", "https://x.modal.host/", "q"},
	} {
		base, token, err := ParseURL(tc.in)
		if err != nil || base != tc.base || token != tc.token {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.in, base, token, err, tc.base, tc.token)
		}
	}
	for _, bad := range []string{"", "h:8888/lab", "ftp://h/", "http:///lab?token=SECRET", "http://h:bad port/?token=SECRET", "://?token=SECRET"} {
		_, _, err := ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q): want an error", bad)
		} else if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("ParseURL(%q) error leaks the token: %v", bad, err)
		}
	}
}

func TestNewServer(t *testing.T) {
	if _, err := NewServer("http://h/?token=SECRET", "x"); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("NewServer with a query: %v; want an error without the token", err)
	}
	for _, bad := range []string{"", "h:8888", "ws://h/"} {
		if _, err := NewServer(bad, "x"); err == nil {
			t.Errorf("NewServer(%q): want an error", bad)
		}
	}
	s, err := NewServer("http://h:1/base", "x")
	if err != nil || s.BaseURL() != "http://h:1/base/" {
		t.Errorf("BaseURL = %q, %v", s.BaseURL(), err)
	}
	if u := s.endpoint("api", "contents", "a b", "c/d"); u.String() != "http://h:1/base/api/contents/a%20b/c%2Fd" {
		t.Errorf("endpoint = %s", u)
	}
}

// Requests carry the token header; a token-less server gets the XSRF pair.
func TestAuthHeaders(t *testing.T) {
	var got http.Header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte(`{"version":"9.9"}`))
	}))
	defer ts.Close()
	s, _ := NewServer(ts.URL, "T0K")
	if v, err := s.Version(context.Background()); err != nil || v != "9.9" || got.Get("Authorization") != "token T0K" {
		t.Errorf("Version = %q, %v; Authorization %q", v, err, got.Get("Authorization"))
	}
	s, _ = NewServer(ts.URL, "")
	if _, err := s.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	x := got.Get("X-XSRFToken")
	if got.Get("Authorization") != "" || x == "" || got.Get("Cookie") != "_xsrf="+x {
		t.Errorf("token-less headers %v; want a matching _xsrf cookie and X-XSRFToken", got)
	}
}

func TestConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	s, _ := NewServer(url, "SECRET")
	ctx, cancel := context.WithTimeout(context.Background(), 300e6)
	defer cancel()
	err := s.WaitReady(ctx)
	if !errors.Is(err, ErrConnection) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("WaitReady on a closed port = %v; want ErrConnection saying why, without the token", err)
	}
}
