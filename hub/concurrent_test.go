package hub

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sena-labs/sena/hub/hubtest"
)

// assertEachBlobOnce checks that every selected file crossed the network once.
func assertEachBlobOnce(t *testing.T, s *hubtest.Server, names []string) {
	t.Helper()
	for _, f := range names {
		if n := s.Downloads(tiny, "main", f); n != 1 {
			t.Errorf("%s transferred %d times, want once", f, n)
		}
	}
}

func TestConcurrentDownloadsInOneProcess(t *testing.T) {
	s, _, _ := serveTiny(t)
	s.SetDelay(150 * time.Millisecond) // so the two downloads overlap
	cache := t.TempDir()
	var wg sync.WaitGroup
	snaps := make([]*Snapshot, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i], errs[i] = newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if snaps[0].Path != snaps[1].Path {
		t.Fatalf("different snapshots %s and %s", snaps[0].Path, snaps[1].Path)
	}
	assertEachBlobOnce(t, s, snaps[0].Files)
	if got := snaps[0].BytesDownloaded + snaps[1].BytesDownloaded; got != s.BytesServed() {
		t.Fatalf("the two downloads report %d bytes, the hub served %d", got, s.BytesServed())
	}
}

// TestHelperDownloadProcess is the child of TestConcurrentDownloadsInTwoProcesses.
func TestHelperDownloadProcess(t *testing.T) {
	endpoint := os.Getenv("SENA_HUB_HELPER_ENDPOINT")
	if endpoint == "" {
		t.Skip("runs only as the child of TestConcurrentDownloadsInTwoProcesses")
	}
	c := NewClient(&Options{Endpoint: endpoint, CacheDir: os.Getenv("SENA_HUB_HELPER_CACHE")})
	snap, err := c.Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("SNAPSHOT %s %d\n", snap.Path, snap.BytesDownloaded)
}

func TestConcurrentDownloadsInTwoProcesses(t *testing.T) {
	s, files, _ := serveTiny(t)
	s.SetDelay(300 * time.Millisecond)
	cache := t.TempDir()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDownloadProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "SENA_HUB_HELPER_ENDPOINT="+s.URL, "SENA_HUB_HELPER_CACHE="+cache, "HF_TOKEN=")
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	var total int64
	var paths []string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
		var path string
		var n int64
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if strings.HasPrefix(line, "SNAPSHOT ") {
				fmt.Sscanf(line, "SNAPSHOT %s %d", &path, &n)
			}
		}
		if path == "" {
			t.Fatalf("process %d printed no snapshot:\n%s", i, outs[i])
		}
		paths, total = append(paths, path), total+n
	}
	if paths[0] != paths[1] {
		t.Fatalf("processes made different snapshots: %v", paths)
	}
	names := []string{".gitattributes", "README.md", "config.json", "generation_config.json", "model.safetensors",
		"special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}
	assertEachBlobOnce(t, s, names)
	if want := selectedSize(files, names); total != want {
		t.Fatalf("the processes downloaded %d bytes together, want %d", total, want)
	}
	if _, ok := CachedSnapshot(cache, tiny, "main"); !ok {
		t.Fatal("no complete snapshot after both processes finished")
	}
}
