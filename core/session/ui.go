package session

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sena-labs/sena/core/kernel"
)

// probeUI reports "lab" when the server serves JupyterLab, so the URL a
// researcher opens lands on the notebook; a bare jupyter_server has no UI
// and the URL stays the server root.
func probeUI(ctx context.Context, base, token string) string {
	u, err := url.JoinPath(base, "lab")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ""
	}
	req.Header.Set("Authorization", "token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "lab"
	}
	return ""
}

// JupyterURL is the URL a researcher opens, token included: the session's
// notebook in JupyterLab when the server has it, else the server root.
func (m *Manager) JupyterURL(rec *Record) (string, error) {
	if rec.Endpoint.URL == "" {
		return "", nil
	}
	token, err := m.store.Token(rec.ID)
	if err != nil {
		return "", err
	}
	nb := ""
	if rec.UI == "lab" {
		nb = rec.Notebook
	}
	return JupyterURL(rec.Endpoint.URL, token, nb), nil
}

// SessionByURL finds the session whose Jupyter server a URL (with its
// token, as jupyter_url gives it) points at: same server, same token.
func (m *Manager) SessionByURL(jupyterURL string) (*Record, bool) {
	base, token, err := kernel.ParseURL(jupyterURL)
	if err != nil || token == "" {
		return nil, false
	}
	recs, err := m.store.List()
	if err != nil {
		return nil, false
	}
	for _, r := range recs {
		if r.Endpoint.URL == "" || strings.TrimSuffix(r.Endpoint.URL, "/") != strings.TrimSuffix(base, "/") {
			continue
		}
		if t, err := m.store.Token(r.ID); err == nil && subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return r, true
		}
	}
	return nil, false
}
