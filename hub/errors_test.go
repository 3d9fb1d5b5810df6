package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
)

const secret = "hf_PlantedSecretToken123"

func TestHubErrors(t *testing.T) {
	s, _, _ := serveTiny(t)
	s.AddRepo("google/gated", "main", map[string][]byte{"config.json": []byte("{}")})
	s.Gate("google/gated", "hf_accepted")
	s.AddToken("hf_accepted")
	s.AddToken(secret)

	for _, tc := range []struct {
		name, repo, rev, token string
		sentinel               error
		says                   []string
	}{
		{"gated, no token", "google/gated", "main", "", core.ErrUnavailable,
			[]string{"model google/gated is gated", "accept its license", "set HF_TOKEN"}},
		{"gated, token without access", "google/gated", "main", secret, core.ErrUnavailable,
			[]string{"gated", "has no access", "Options.Token"}},
		{"bad token", tiny, "main", "hf_revoked", core.ErrInvalidConfig,
			[]string{"invalid or expired", "settings/tokens"}},
		{"missing repo, no token", "nobody/nothing", "main", "", core.ErrNotFound,
			[]string{"model nobody/nothing not found", "if it is private set HF_TOKEN"}},
		{"missing repo, token", "nobody/nothing", "main", secret, core.ErrNotFound,
			[]string{"not found", "cannot see it"}},
		{"missing revision", tiny, "v9", "", core.ErrNotFound,
			[]string{`has no revision "v9"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HF_TOKEN", "")
			cache := t.TempDir()
			c := NewClient(&Options{Endpoint: s.URL, CacheDir: cache, Token: tc.token})
			_, err := c.Download(context.Background(), tc.repo, tc.rev, nil)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.sentinel)
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hf_revoked") {
				t.Fatalf("error shows the token: %q", err)
			}
		})
	}

	// With the accepted token it works, and the token never reached the CDN (which refuses it).
	c := NewClient(&Options{Endpoint: s.URL, CacheDir: t.TempDir(), Token: "hf_accepted"})
	if _, err := c.Download(context.Background(), "google/gated", "main", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(context.Background(), tiny, "main", nil); err != nil {
		t.Fatalf("LFS download with a token: %v (was the token sent to the CDN?)", err)
	}
}

func TestChecksumMismatchIsDetected(t *testing.T) {
	s, _, _ := serveTiny(t)
	s.Corrupt(tiny, "main", "model.safetensors")
	s.Corrupt(tiny, "main", "config.json")
	cache := t.TempDir()
	for _, file := range []string{"model.safetensors", "config.json"} {
		_, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", &DownloadOptions{AllowPatterns: []string{file}})
		if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), file) {
			t.Fatalf("%s: error %v, want a corrupt-file error naming it", file, err)
		}
	}
	blobs, _ := os.ReadDir(filepath.Join(cache, "models--sena-test--tiny-llama", "blobs"))
	if len(blobs) != 0 {
		t.Fatalf("corrupt data kept in the cache: %v", blobs)
	}
	if _, ok := CachedSnapshot(cache, tiny, "main"); ok {
		t.Fatal("a failed download left a snapshot that counts as complete")
	}
}

func TestFullDiskIsAClearError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full to make writes fail with ENOSPC")
	}
	s, files, _ := serveTiny(t)
	cache := t.TempDir()
	// The partial file is /dev/full, whose every write fails with ENOSPC, as on a full disk.
	blobs := filepath.Join(cache, "models--sena-test--tiny-llama", "blobs")
	os.MkdirAll(blobs, 0o755)
	if err := os.Symlink("/dev/full", filepath.Join(blobs, sha256Hex(files["model.safetensors"])+".incomplete")); err != nil {
		t.Fatal(err)
	}
	_, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "HF_HUB_CACHE") {
		t.Fatalf("error %v, want a disk-full error that says what to do", err)
	}
}
