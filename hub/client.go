// Package hub downloads models from the Hugging Face Hub into the standard
// Hugging Face cache (HF_HUB_CACHE: models--ORG--NAME/{blobs,snapshots,refs}),
// so transformers and huggingface_hub load the result offline and Sena reuses
// what they downloaded, and the other way round.
//
// Download is offline-first: a model already complete in the cache costs no
// request at all. See Download for the rules and DownloadOptions.Refresh for
// how to ask the Hub again.
package hub

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the Hub that huggingface_hub uses when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// Options configure a Client. Zero values take huggingface_hub's defaults
// from the environment.
type Options struct {
	// Endpoint is the Hub's base URL (default $HF_ENDPOINT, else https://huggingface.co).
	Endpoint string
	// Token authenticates to the Hub (default $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN,
	// else the token file $HF_TOKEN_PATH or $HF_HOME/token that `hf auth login` writes).
	Token string
	// CacheDir is the hub cache (default $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE,
	// else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub).
	CacheDir string
	// Concurrency is how many files download at once (default 8, as huggingface_hub).
	Concurrency int
	// HTTPClient sends the requests (default: a client with no overall timeout,
	// since a weight file can take hours; cancel through the context instead).
	HTTPClient *http.Client
	// Progress, if set, is told how each file's transfer goes. Calls come one
	// at a time, never concurrently.
	Progress func(Progress)
}

// Client talks to one Hub and writes to one cache.
type Client struct {
	endpoint    string
	token       string
	tokenSource string // where the token came from, to name it in errors (never the value)
	cacheDir    string
	concurrency int
	http        *http.Client
	progress    func(Progress)
}

// NewClient fills in opts' defaults from the environment, as huggingface_hub does.
func NewClient(opts *Options) *Client {
	if opts == nil {
		opts = &Options{}
	}
	c := &Client{
		endpoint:    strings.TrimRight(opts.Endpoint, "/"),
		token:       opts.Token,
		tokenSource: "Options.Token",
		cacheDir:    opts.CacheDir,
		concurrency: opts.Concurrency,
		progress:    opts.Progress,
	}
	if c.endpoint == "" {
		c.endpoint = strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/")
	}
	if c.endpoint == "" {
		c.endpoint = DefaultEndpoint
	}
	if c.token == "" {
		c.token, c.tokenSource = envToken()
	}
	if c.cacheDir == "" {
		c.cacheDir = DefaultCacheDir()
	}
	if c.concurrency <= 0 {
		c.concurrency = 8
	}
	base := opts.HTTPClient
	if base == nil {
		base = &http.Client{}
	}
	// A copy, so that our redirect rule does not change the caller's client.
	hc := *base
	hc.CheckRedirect = c.checkRedirect(base.CheckRedirect)
	c.http = &hc
	return c
}

// CacheDir is the hub cache this client writes to.
func (c *Client) CacheDir() string { return c.cacheDir }

// Endpoint is the Hub this client asks.
func (c *Client) Endpoint() string { return c.endpoint }

// checkRedirect drops the token when the Hub redirects to another origin (the
// LFS CDN): a signed URL needs no token, S3 refuses a second credential, and
// the token must not leak. Go itself keeps it for the same host on another port.
func (c *Client) checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme+"://"+req.URL.Host != originOf(c.endpoint) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
}

func originOf(endpoint string) string {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// DefaultCacheDir is where huggingface_hub keeps its cache, from the environment.
func DefaultCacheDir() string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(v); d != "" {
			return expandPath(d)
		}
	}
	return filepath.Join(hfHome(), "hub")
}

func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expandPath(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandPath(x), "huggingface")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "huggingface")
}

// envToken finds the token as huggingface_hub does and says where it found it.
func envToken() (token, source string) {
	for _, v := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := cleanToken(os.Getenv(v)); t != "" {
			return t, v
		}
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(hfHome(), "token")
	}
	if b, err := os.ReadFile(expandPath(path)); err == nil {
		if t := cleanToken(string(b)); t != "" {
			return t, "the token file " + expandPath(path)
		}
	}
	return "", ""
}

func cleanToken(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(s))
}

// expandPath expands ~ and $VARS as huggingface_hub's expanduser/expandvars do.
func expandPath(p string) string {
	// Unlike os.ExpandEnv, leave unknown variables as written, as Python does.
	p = os.Expand(p, func(k string) string {
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		return "${" + k + "}"
	})
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	return p
}
