package hub

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDownloadWritesTheHubCacheLayout(t *testing.T) {
	s, files, commit := serveTiny(t)
	cache := t.TempDir()
	c := newClient(t, s, cache, nil)

	snap, err := c.Download(context.Background(), tiny, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(cache, "models--sena-test--tiny-llama")
	if snap.Commit != commit || snap.Path != filepath.Join(storage, "snapshots", commit) || snap.Repo != tiny {
		t.Fatalf("snapshot %+v, want commit %s under %s", snap, commit, storage)
	}
	ref, err := os.ReadFile(filepath.Join(storage, "refs", "main"))
	if err != nil || string(ref) != commit {
		t.Fatalf("refs/main = %q, %v; want %s", ref, err, commit)
	}

	want := []string{".gitattributes", "README.md", "config.json", "generation_config.json", "model.safetensors",
		"special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}
	if !slices.Equal(snap.Files, want) {
		t.Fatalf("files %v, want %v (safetensors preferred over pytorch_model.bin)", snap.Files, want)
	}
	if _, err := os.Lstat(filepath.Join(snap.Path, "pytorch_model.bin")); !os.IsNotExist(err) {
		t.Fatalf("pytorch_model.bin is in the snapshot (%v); safetensors exist, so it must be skipped", err)
	}
	if s.Downloads(tiny, "main", "pytorch_model.bin") != 0 {
		t.Fatal("pytorch_model.bin was downloaded")
	}

	var total int64
	for _, name := range want {
		p := filepath.Join(snap.Path, name)
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("%s: not a symlink: %v", name, err)
		}
		// LFS files are named by sha256, others by git blob id, as huggingface_hub names them.
		blobName := filepath.Base(target)
		if name == "model.safetensors" && blobName != sha256Hex(files[name]) {
			t.Fatalf("model.safetensors -> %s, want its sha256 %s", target, sha256Hex(files[name]))
		}
		if target != filepath.Join("..", "..", "blobs", blobName) {
			t.Fatalf("%s -> %s, want a relative link ../../blobs/ETAG", name, target)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, files[name]) {
			t.Fatalf("%s: content differs from the hub's (%v)", name, err)
		}
		total += int64(len(files[name]))
	}
	if snap.BytesDownloaded != total {
		t.Fatalf("BytesDownloaded %d, want %d", snap.BytesDownloaded, total)
	}
	// The file list: Sena's copy always; huggingface_hub's only when every
	// file of it was fetched, which here (the .bin was skipped) is not so.
	if _, err := os.Stat(filepath.Join(storage, ".sena", "trees", commit+".json")); err != nil {
		t.Fatalf("no tree listing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(storage, "trees", commit+".json")); err == nil {
		t.Fatal("trees/COMMIT.json lists the .bin Sena skipped: huggingface_hub would call the snapshot incomplete")
	}
	all, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", &DownloadOptions{AllowPatterns: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(storage, "trees", commit+".json")); err != nil || len(all.Files) != len(files) {
		t.Fatalf("after fetching every file (%d of %d), huggingface_hub's tree listing: %v", len(all.Files), len(files), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(storage, "blobs", "*.incomplete"))
	if len(leftovers) != 0 {
		t.Fatalf("partial files left: %v", leftovers)
	}
}

func TestDownloadAgainMakesNoRequest(t *testing.T) {
	s, _, commit := serveTiny(t)
	cache := t.TempDir()
	first, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range []string{"main", "", commit} {
		s.ResetStats()
		// A fresh client, as a second `sena up` would make.
		snap, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, rev, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.Requests(); n != 0 {
			t.Fatalf("revision %q: %d requests to a hub whose model is cached: %v", rev, n, s.Log())
		}
		if snap.Path != first.Path || snap.BytesDownloaded != 0 || !slices.Equal(snap.Files, first.Files) {
			t.Fatalf("revision %q: cached snapshot %+v differs from the first %+v", rev, snap, first)
		}
	}
	path, ok := CachedSnapshot(cache, tiny, "main")
	if !ok || path != first.Path {
		t.Fatalf("CachedSnapshot = %q, %v; want %s", path, ok, first.Path)
	}
}

func TestDownloadGoesOnlineWhenTheSnapshotIsIncomplete(t *testing.T) {
	s, files, _ := serveTiny(t)
	cache := t.TempDir()
	c := newClient(t, s, cache, nil)
	snap, err := c.Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(snap.Path, "tokenizer.json"))
	if _, ok := CachedSnapshot(cache, tiny, "main"); ok {
		t.Fatal("CachedSnapshot reports a snapshot with a missing file as complete")
	}
	s.ResetStats()
	again, err := c.Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Only the API request: the blob is still there, so the link is remade without a transfer.
	if s.Requests() != 1 || again.BytesDownloaded != 0 {
		t.Fatalf("%d requests, %d bytes; want 1 API request and no transfer: %v", s.Requests(), again.BytesDownloaded, s.Log())
	}
	if got, _ := os.ReadFile(filepath.Join(again.Path, "tokenizer.json")); !bytes.Equal(got, files["tokenizer.json"]) {
		t.Fatal("tokenizer.json not restored")
	}
}

func TestRefreshFollowsTheBranch(t *testing.T) {
	s, files, first := serveTiny(t)
	cache := t.TempDir()
	c := newClient(t, s, cache, nil)
	if _, err := c.Download(context.Background(), tiny, "main", nil); err != nil {
		t.Fatal(err)
	}
	files["README.md"] = []byte("# a newer commit\n")
	second := s.AddRepo(tiny, "main", files)

	snap, err := c.Download(context.Background(), tiny, "main", nil)
	if err != nil || snap.Commit != first {
		t.Fatalf("without Refresh: commit %v (%v), want the cached %s", snap, err, first)
	}
	s.ResetStats()
	snap, err = c.Download(context.Background(), tiny, "main", &DownloadOptions{Refresh: true})
	if err != nil || snap.Commit != second {
		t.Fatalf("with Refresh: %v (%v), want commit %s", snap, err, second)
	}
	// Only README.md changed: every other blob is reused.
	if snap.BytesDownloaded != int64(len(files["README.md"])) {
		t.Fatalf("refresh downloaded %d bytes, want only README.md's %d: %v", snap.BytesDownloaded, len(files["README.md"]), s.Log())
	}
	if p, ok := CachedSnapshot(cache, tiny, first); !ok || filepath.Base(p) != first {
		t.Fatalf("the old commit's snapshot is gone: %q %v", p, ok)
	}
}

func TestPatterns(t *testing.T) {
	s, _, _ := serveTiny(t)
	for _, tc := range []struct {
		name          string
		allow, ignore []string
		want          []string
	}{
		{"allow json", []string{"*.json"}, nil, []string{"config.json", "generation_config.json",
			"special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}},
		{"ignore", nil, []string{"*.json", "*.md", ".*"}, []string{"model.safetensors"}},
		// An explicit allow list is taken as is: both weight formats.
		{"allow all", []string{"*"}, []string{"*.json", "*.md", ".*"}, []string{"model.safetensors", "pytorch_model.bin"}},
		{"char class", []string{"[cg]*.json"}, nil, []string{"config.json", "generation_config.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, s, t.TempDir(), nil)
			snap, err := c.Download(context.Background(), tiny, "main", &DownloadOptions{AllowPatterns: tc.allow, IgnorePatterns: tc.ignore})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(snap.Files, tc.want) {
				t.Fatalf("files %v, want %v", snap.Files, tc.want)
			}
			entries, _ := os.ReadDir(snap.Path)
			if len(entries) != len(tc.want) {
				t.Fatalf("snapshot holds %d entries, want %d", len(entries), len(tc.want))
			}
		})
	}
	_, err := newClient(t, s, t.TempDir(), nil).Download(context.Background(), tiny, "main", &DownloadOptions{AllowPatterns: []string{"*.gguf"}})
	if err == nil {
		t.Fatal("a pattern matching nothing downloaded nothing and reported success")
	}
}

func TestNestedFilesAndRevisionsWithSlashes(t *testing.T) {
	s := hubtestServer(t)
	files := map[string][]byte{"config.json": []byte("{}\n"), "sub/dir/weights.safetensors": []byte("not really weights")}
	commit := s.AddRepo("org/nested", "refs/pr/1", files)
	cache := t.TempDir()
	snap, err := newClient(t, s, cache, nil).Download(context.Background(), "org/nested", "refs/pr/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(snap.Path, "sub", "dir", "weights.safetensors"))
	if err != nil || target != filepath.Join("..", "..", "..", "..", "blobs", sha256Hex(files["sub/dir/weights.safetensors"])) {
		t.Fatalf("nested link -> %q (%v)", target, err)
	}
	ref, _ := os.ReadFile(filepath.Join(cache, "models--org--nested", "refs", "refs", "pr", "1"))
	if string(ref) != commit {
		t.Fatalf("refs/refs/pr/1 = %q, want %s", ref, commit)
	}
}
