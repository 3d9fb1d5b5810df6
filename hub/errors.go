package hub

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"

	"github.com/sena-labs/sena/core"
)

// The Hub's X-Error-Message for a token it does not know.
const invalidCredentials = "Invalid credentials in Authorization header"

// responseError turns a Hub error response into an error a user can act on,
// reading the X-Error-Code header as huggingface_hub does. what names the
// request ("model ORG/NAME", "file F of model ORG/NAME").
func (c *Client) responseError(resp *http.Response, repo, revision, what string) error {
	code := resp.Header.Get("X-Error-Code")
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg = strings.TrimSpace(string(b))
	}
	page := c.endpoint + "/" + repo
	switch {
	case resp.StatusCode == http.StatusUnauthorized && msg == invalidCredentials:
		return core.Errorf(core.ErrInvalidConfig,
			"the Hub at %s refused the token from %s as invalid or expired: create a new one at %s/settings/tokens and set HF_TOKEN",
			c.endpoint, c.tokenSource, c.endpoint)
	case code == "GatedRepo" && c.token == "":
		return core.Errorf(core.ErrUnavailable,
			"model %s is gated: accept its license at %s and set HF_TOKEN to a token of that account", repo, page)
	case code == "GatedRepo":
		return core.Errorf(core.ErrUnavailable,
			"model %s is gated and the token from %s has no access to it: accept its license at %s with the token's account, or use another token",
			repo, c.tokenSource, page)
	case code == "RevisionNotFound":
		return core.Errorf(core.ErrNotFound, "model %s has no revision %q: use a branch, tag or commit listed at %s/tree/main", repo, revision, page)
	case code == "EntryNotFound":
		return core.Errorf(core.ErrNotFound, "%s not found at revision %q (the Hub's listing named it; retry, or pin another revision)", what, revision)
	case code == "RepoNotFound" && c.token == "":
		return core.Errorf(core.ErrNotFound,
			"model %s not found on %s: check the name, or if it is private set HF_TOKEN to a token with access", repo, c.endpoint)
	case code == "RepoNotFound":
		return core.Errorf(core.ErrNotFound,
			"model %s not found on %s, or the token from %s cannot see it: check the name and the token's access", repo, c.endpoint, c.tokenSource)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return core.Errorf(core.ErrUnavailable, "the Hub refused %s (HTTP %d: %s): check HF_TOKEN and the model's access settings", what, resp.StatusCode, msg)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return core.Errorf(core.ErrUnavailable, "the Hub at %s is unavailable for %s (HTTP %d: %s): retry later", c.endpoint, what, resp.StatusCode, msg)
	}
	return core.Errorf(core.ErrUnavailable, "the Hub answered HTTP %d for %s: %s", resp.StatusCode, what, msg)
}

// transportError explains a request that got no answer.
func (c *Client) transportError(err error, what string) error {
	return core.Errorf(core.ErrUnavailable,
		"cannot reach the Hub at %s for %s: %v (check the network or HF_ENDPOINT; a model already in the cache needs no network)",
		c.endpoint, what, err)
}

// diskError explains a failed write, singling out a full disk.
func diskError(err error, dir string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return core.Errorf(core.ErrUnavailable,
			"disk full while writing the model cache in %s: free some space or point HF_HUB_CACHE at a larger disk (the partial download is kept and resumes next time)", dir)
	}
	return core.Errorf(core.ErrUnavailable, "write to the model cache in %s: %v", dir, err)
}

// checksumError reports content that does not match the Hub's listing.
func checksumError(file, repo, kind, want, got string) error {
	return core.Errorf(core.ErrUnavailable,
		"file %s of model %s is corrupt: %s %s, expected %s (the broken copy was deleted; run the download again)",
		file, repo, kind, got, want)
}
