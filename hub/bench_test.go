package hub

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/sena-labs/sena/hub/hubtest"
)

// TestDownloadStreamsWithBoundedMemory checks that a large file goes to disk
// in chunks: the whole download allocates far less than the file's size.
func TestDownloadStreamsWithBoundedMemory(t *testing.T) {
	const size = 64 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	s := hubtest.NewServer(t)
	s.AddRepo("org/big", "main", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": data})
	c := newClient(t, s, t.TempDir(), nil)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	snap, err := c.Download(context.Background(), "org/big", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// Client and test server together; a client holding the file in memory would add 64 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Fatalf("downloading %d MiB allocated %d MiB: the file is being buffered", size>>20, alloc>>20)
	}
	if snap.BytesDownloaded != size+2 {
		t.Fatalf("downloaded %d bytes, want %d", snap.BytesDownloaded, size+2)
	}
}

// BenchmarkDownload fetches a ~220 MB Llama (safetensors) from the local test
// hub into a fresh cache each time: go test ./hub -run '^$' -bench Download -benchtime 3x
func BenchmarkDownload(b *testing.B) {
	files := hubtest.LlamaRepo(hubtest.LlamaConfig{Vocab: 8192, Hidden: 1024, Intermediate: 2816, Layers: 3, Heads: 16, KVHeads: 16})
	s := hubtest.NewServer(b)
	s.AddRepo("bench/llama", "main", files)
	var size int64
	for name, f := range files {
		if name != "pytorch_model.bin" {
			size += int64(len(f))
		}
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		cache, err := os.MkdirTemp(b.TempDir(), "cache")
		if err != nil {
			b.Fatal(err)
		}
		c := NewClient(&Options{Endpoint: s.URL, CacheDir: cache})
		b.StartTimer()
		snap, err := c.Download(context.Background(), "bench/llama", "main", nil)
		if err != nil {
			b.Fatal(err)
		}
		if snap.BytesDownloaded != size {
			b.Fatalf("downloaded %d bytes, want %d", snap.BytesDownloaded, size)
		}
		b.StopTimer()
		os.RemoveAll(cache)
		b.StartTimer()
	}
}
