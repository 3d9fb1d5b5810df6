package session

import (
	"context"
	"net/http"
	"net/url"
	"time"
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
