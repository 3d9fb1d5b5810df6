package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/hub/hubtest"
)

func TestResolveSelectsLikeDownloadAndFetchesNothing(t *testing.T) {
	s := hubtest.NewServer(t)
	commit := s.AddRepo("org/both", "main", map[string][]byte{
		"config.json": []byte("{}"), "model.safetensors": make([]byte, 100), "pytorch_model.bin": make([]byte, 100),
	})
	r, err := newClient(t, s, t.TempDir(), nil).Resolve(context.Background(), "org/both", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Files {
		names = append(names, f.Name)
		if f.Name == "model.safetensors" && f.Size != 100 {
			t.Errorf("size of %s = %d, want 100", f.Name, f.Size)
		}
	}
	if r.Commit != commit || r.Revision != "main" || strings.Join(names, ",") != "config.json,model.safetensors" {
		t.Errorf("Resolve = %+v, want commit %s and config.json,model.safetensors", r, commit)
	}
	if n := s.Downloads("org/both", "main", "model.safetensors"); n != 0 {
		t.Errorf("Resolve downloaded the weights %d times", n)
	}
}

func TestResolveGatedWithoutTokenSaysSo(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo("org/gated", "main", map[string][]byte{"config.json": []byte("{}")})
	s.AddToken("hf_granted")
	s.Gate("org/gated", "hf_granted")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_TOKEN_PATH", "")
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	c := NewClient(&Options{Endpoint: s.URL, CacheDir: t.TempDir()})
	if tok, _ := c.Token(); tok != "" {
		t.Fatalf("Token = %q with no token anywhere", tok)
	}
	_, err := c.Resolve(context.Background(), "org/gated", "main", nil)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "gated") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("Resolve of a gated model without a token = %v, want an error saying it is gated and to set HF_TOKEN", err)
	}
	// The token file `hf auth login` writes is found, and named as the source.
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("hf_granted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = NewClient(&Options{Endpoint: s.URL, CacheDir: t.TempDir()})
	if tok, src := c.Token(); tok != "hf_granted" || !strings.Contains(src, "token file") {
		t.Errorf("Token = %q from %q, want hf_granted from the token file", tok, src)
	}
	if _, err := c.Resolve(context.Background(), "org/gated", "main", nil); err != nil {
		t.Errorf("Resolve with the token file's token: %v", err)
	}
}
