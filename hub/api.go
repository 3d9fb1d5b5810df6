package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/sena-labs/sena/core"
)

// userAgent names Sena to the Hub, as huggingface_hub names itself.
const userAgent = "sena-hub/1 (go)"

// modelInfo is what GET /api/models/REPO/revision/REV?blobs=true returns
// (huggingface_hub's model_info with files_metadata=True), trimmed to what we use.
type modelInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      *int64 `json:"size"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// resolveRevision asks the Hub for the commit revision points at and the
// repo's files with their sizes and hashes, in one request.
func (c *Client) resolveRevision(ctx context.Context, repo, revision string) (string, map[string]treeFile, error) {
	what := "model " + repo
	u := c.endpoint + "/api/models/" + repo + "/revision/" + url.PathEscape(revision) + "?blobs=true"
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return "", nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", nil, c.transportError(err, what)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, c.responseError(resp, repo, revision, what)
	}
	var info modelInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || !commitHash.MatchString(info.SHA) {
		return "", nil, core.Errorf(core.ErrUnavailable,
			"%s does not answer like the Hugging Face Hub for %s (no commit in the model info): check HF_ENDPOINT", c.endpoint, what)
	}
	files := map[string]treeFile{}
	for _, s := range info.Siblings {
		if s.Size == nil || s.BlobID == "" {
			return "", nil, core.Errorf(core.ErrUnavailable,
				"%s gave no size and blob id for %s of %s: it must support the Hub's ?blobs=true model info (check HF_ENDPOINT)", c.endpoint, s.RFilename, repo)
		}
		if !validRepoPath(s.RFilename) {
			return "", nil, core.Errorf(core.ErrUnavailable, "model %s lists a file named %q that would escape its folder: refusing it", repo, s.RFilename)
		}
		f := treeFile{Size: *s.Size, BlobID: s.BlobID}
		if s.LFS != nil {
			f.LFSSHA256, f.LFSSize = s.LFS.SHA256, s.LFS.Size
		}
		files[s.RFilename] = f
	}
	return info.SHA, files, nil
}

// newRequest sets the headers every Hub request carries: the token (only
// ever in this header) and identity encoding, so sizes and ranges are of the
// file itself, not of a compressed form.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "bad Hub URL %q: %v (check HF_ENDPOINT)", u, err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept-Encoding", "identity")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// resolveURL is where a file's content is: ENDPOINT/REPO/resolve/COMMIT/PATH.
func (c *Client) resolveURL(repo, commit, name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return c.endpoint + "/" + repo + "/resolve/" + commit + "/" + strings.Join(segs, "/")
}
