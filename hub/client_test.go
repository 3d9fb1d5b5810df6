package hub

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultsFollowHuggingFaceHubsEnvironment(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE",
		"HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", home)
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_fromfile\n"), 0o600)

	c := NewClient(nil)
	if c.Endpoint() != DefaultEndpoint || c.CacheDir() != filepath.Join(home, "hub") || c.token != "hf_fromfile" {
		t.Fatalf("endpoint %s, cache %s, token from %s; want the defaults under HF_HOME", c.Endpoint(), c.CacheDir(), c.tokenSource)
	}

	t.Setenv("HF_ENDPOINT", "http://mirror.example/")
	t.Setenv("HF_TOKEN", " hf_fromenv ")
	t.Setenv("HF_HUB_CACHE", "$HF_HOME/elsewhere")
	c = NewClient(&Options{})
	if c.Endpoint() != "http://mirror.example" || c.token != "hf_fromenv" || c.tokenSource != "HF_TOKEN" ||
		c.CacheDir() != filepath.Join(home, "elsewhere") {
		t.Fatalf("endpoint %s, cache %s, token from %s; want HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN", c.Endpoint(), c.CacheDir(), c.tokenSource)
	}

	c = NewClient(&Options{Endpoint: "http://given", Token: "hf_given", CacheDir: "/given"})
	if c.Endpoint() != "http://given" || c.token != "hf_given" || c.CacheDir() != "/given" {
		t.Fatal("explicit options lost to the environment")
	}
}
