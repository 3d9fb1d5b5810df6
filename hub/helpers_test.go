package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/hub/hubtest"
)

const tiny = "sena-test/tiny-llama"

// serveTiny starts a hub serving hubtest.TinyLlama as tiny@main.
func serveTiny(t *testing.T) (*hubtest.Server, map[string][]byte, string) {
	t.Helper()
	s := hubtest.NewServer(t)
	files := hubtest.TinyLlama()
	commit := s.AddRepo(tiny, "main", files)
	return s, files, commit
}

func newClient(t *testing.T, s *hubtest.Server, cache string, opts *Options) *Client {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.Endpoint = s.URL
	opts.CacheDir = cache
	if opts.Token == "" {
		opts.Token = "hf_unused"
	}
	return NewClient(opts)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// listCache maps every path under dir (slash-separated, relative) to what it
// is: "dir", "link -> TARGET" or "file SIZE", skipping .locks and
// temporaries, so two caches can be compared whole.
func listCache(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == ".locks" || strings.HasPrefix(rel, ".locks/"):
			return filepath.SkipDir
		case info.IsDir():
			out[rel] = "dir"
		case info.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link -> " + target
		default:
			out[rel] = fmt.Sprintf("file %d", info.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hubtestServer(t *testing.T) *hubtest.Server { return hubtest.NewServer(t) }
