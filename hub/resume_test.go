package hub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selectedSize(files map[string][]byte, names []string) int64 {
	var n int64
	for _, f := range names {
		n += int64(len(files[f]))
	}
	return n
}

func TestResumeAfterTheConnectionDrops(t *testing.T) {
	defer func(old time.Duration) { retryWait = old }(retryWait)
	retryWait = 0
	s, files, _ := serveTiny(t)
	for _, f := range []string{"model.safetensors", "tokenizer.json"} { // one via the CDN, one direct
		s.CutOnce(tiny, "main", f)
	}
	snap, err := newClient(t, s, t.TempDir(), nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.safetensors", "tokenizer.json"} {
		if n := s.Downloads(tiny, "main", f); n != 2 {
			t.Fatalf("%s transferred %d times, want 2 (cut, then resumed)", f, n)
		}
		if got, _ := os.ReadFile(filepath.Join(snap.Path, f)); !bytes.Equal(got, files[f]) {
			t.Fatalf("%s differs after resuming", f)
		}
	}
	// Resuming asks for the rest only: every byte crossed the network once.
	if want := selectedSize(files, snap.Files); s.BytesServed() != want || snap.BytesDownloaded != want {
		t.Fatalf("served %d, downloaded %d bytes; want %d each (no byte twice)", s.BytesServed(), snap.BytesDownloaded, want)
	}
}

func TestResumeAPartialFileFromAnEarlierRun(t *testing.T) {
	s, files, _ := serveTiny(t)
	cache := t.TempDir()
	weights := files["model.safetensors"]
	blobs := filepath.Join(cache, "models--sena-test--tiny-llama", "blobs")
	os.MkdirAll(blobs, 0o755)
	half := len(weights) / 2
	os.WriteFile(filepath.Join(blobs, sha256Hex(weights)+".incomplete"), weights[:half], 0o644)

	snap, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := selectedSize(files, snap.Files) - int64(half); snap.BytesDownloaded != want || s.BytesServed() != want {
		t.Fatalf("downloaded %d, served %d; want %d (the partial half reused)", snap.BytesDownloaded, s.BytesServed(), want)
	}
	if got, _ := os.ReadFile(filepath.Join(snap.Path, "model.safetensors")); !bytes.Equal(got, weights) {
		t.Fatal("resumed file differs")
	}
}

func TestAPartialFileWithWrongBytesIsDiscarded(t *testing.T) {
	s, files, _ := serveTiny(t)
	cache := t.TempDir()
	weights := files["model.safetensors"]
	blobs := filepath.Join(cache, "models--sena-test--tiny-llama", "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, sha256Hex(weights)+".incomplete"), bytes.Repeat([]byte{7}, 100), 0o644)

	c := newClient(t, s, cache, nil)
	_, err := c.Download(context.Background(), tiny, "main", nil)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("error %v, want the checksum to catch the bad prefix", err)
	}
	if _, err := c.Download(context.Background(), tiny, "main", nil); err != nil {
		t.Fatalf("second run after discarding the bad partial file: %v", err)
	}
}
