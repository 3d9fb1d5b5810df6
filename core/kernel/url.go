package kernel

import (
	"errors"
	"net/url"
	"strings"
)

// uiSegments start the part of a pasted URL that belongs to a UI page or an
// API route rather than to the server's base_url.
var uiSegments = map[string]bool{
	"lab": true, "tree": true, "notebooks": true, "doc": true, "edit": true,
	"view": true, "files": true, "terminals": true, "consoles": true, "api": true,
}

// ParseURL splits a Jupyter URL as a user pastes it
// ("http://h:p/base/lab?token=T") into the server base URL, which ends in
// "/", and the token (empty when the URL has none). UI paths such as /lab,
// /tree/..., /notebooks/... and /api/... are stripped from the base.
func ParseURL(raw string) (base string, token string, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	// The URL may hold a token, so errors never quote it.
	if err != nil {
		return "", "", errors.New("jupyter URL is not a valid URL: want http[s]://HOST[:PORT]/[BASE/][lab][?token=TOKEN]")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", errors.New("jupyter URL must start with http:// or https://")
	}
	if u.Host == "" {
		return "", "", errors.New("jupyter URL has no host: want http[s]://HOST[:PORT]/...")
	}
	token = u.Query().Get("token")
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	keep := segs[:0]
	for _, s := range segs {
		if uiSegments[s] {
			break
		}
		if s != "" {
			keep = append(keep, s)
		}
	}
	b := url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}
	if len(keep) > 0 {
		b.Path = "/" + strings.Join(keep, "/") + "/"
	}
	return b.String(), token, nil
}
