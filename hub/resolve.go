package hub

import (
	"context"
	"net/http"
	"strings"

	"github.com/sena-labs/sena/core"
)

// Remote is a model revision as the Hub describes it now, with Download's
// file selection applied: what a download elsewhere (a Modal volume) must
// fetch and check.
type Remote struct {
	// Repo is ORG/NAME, Revision what was asked ("main" when empty) and
	// Commit the 40-hex commit it points at.
	Repo, Revision, Commit string
	// Files are the selected files with the sizes the Hub lists, by path.
	Files []RemoteFile
}

// RemoteFile is one file of a Remote.
type RemoteFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Resolve asks the Hub, with one request and the client's token, which
// commit revision points at and which files Download would fetch with opts
// (safetensors over other weight formats unless AllowPatterns say
// otherwise). It downloads nothing and never answers from the cache, so a
// gated, missing or unreachable model is an error here.
func (c *Client) Resolve(ctx context.Context, repo, revision string, opts *DownloadOptions) (*Remote, error) {
	if opts == nil {
		opts = &DownloadOptions{}
	}
	if !repoID.MatchString(repo) || strings.Contains(repo, "..") {
		return nil, core.Errorf(core.ErrInvalidConfig, "model %q: write it as ORG/NAME, as in google/gemma-2-9b-it", repo)
	}
	if revision == "" {
		revision = "main"
	}
	sel, err := newSelection(opts)
	if err != nil {
		return nil, err
	}
	commit, tree, err := c.resolveRevision(ctx, repo, revision)
	if err != nil {
		return nil, err
	}
	// A gated repo's listing is public; its files are not.
	if err := c.authCheck(ctx, repo, revision); err != nil {
		return nil, err
	}
	names := sel.pick(sortedKeys(tree))
	if len(names) == 0 {
		return nil, core.Errorf(core.ErrInvalidConfig,
			"no file of model %s at %s matches allow patterns %q and ignore patterns %q", repo, revision, opts.AllowPatterns, opts.IgnorePatterns)
	}
	r := &Remote{Repo: repo, Revision: revision, Commit: commit}
	for _, n := range names {
		r.Files = append(r.Files, RemoteFile{Name: n, Size: tree[n].Size})
	}
	return r, nil
}

// authCheck asks whether the client's token may read repo's files
// (huggingface_hub's auth_check): a gated repo answers GatedRepo without.
func (c *Client) authCheck(ctx context.Context, repo, revision string) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint+"/api/models/"+repo+"/auth-check")
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err, "model "+repo)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.responseError(resp, repo, revision, "model "+repo)
	}
	return nil
}

// Token is the token the client sends to the Hub ("" for none) and where it
// came from: Options.Token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the token
// file, as huggingface_hub looks. For a caller that must hand the same token
// on (a download that runs elsewhere); never log it.
func (c *Client) Token() (token, source string) {
	if c.token == "" {
		return "", ""
	}
	return c.token, c.tokenSource
}
