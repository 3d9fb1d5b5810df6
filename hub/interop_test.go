package hub

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sena-labs/sena/hub/hubtest"
)

// interopRepos are the shapes of repo that trip a cache up: one with
// safetensors and a .bin copy (Sena fetches the safetensors only), and one
// sharded both ways with an index per format.
func interopRepos() map[string]map[string][]byte {
	return map[string]map[string][]byte{
		"sena-test/tiny-llama":    hubtest.TinyLlama(),
		"sena-test/sharded-llama": hubtest.ShardedLlama(hubtest.TinyLlamaConfig, 3),
	}
}

// senaCache downloads every interop repo with Sena into a fresh cache.
func senaCache(t *testing.T) (*hubtest.Server, string, map[string]*Snapshot) {
	t.Helper()
	s := hubtest.NewServer(t)
	cache := t.TempDir()
	snaps := map[string]*Snapshot{}
	for repo, files := range interopRepos() {
		s.AddRepo(repo, "main", files)
		snap, err := newClient(t, s, cache, nil).Download(context.Background(), repo, "main", nil)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(snap.Files, func(f string) bool { return strings.HasSuffix(f, ".bin") }) {
			t.Fatalf("%s: sena fetched .bin files beside safetensors: %v", repo, snap.Files)
		}
		snaps[repo] = snap
	}
	s.ResetStats()
	return s, cache, snaps
}

// TestHuggingFaceHubAcceptsSenasCacheOffline asks the official
// huggingface_hub, with no network, about a cache only Sena wrote:
// snapshot_download(local_files_only=True) and HF_HUB_OFFLINE=1 find each
// snapshot whole (no IncompleteSnapshotError for the .bin files Sena
// skipped), hf_hub_download finds files, scan_cache_dir reads it without a
// warning, and the `hf download` CLI answers with the snapshot.
func TestHuggingFaceHubAcceptsSenasCacheOffline(t *testing.T) {
	py := needPython(t, "huggingface_hub")
	s, cache, snaps := senaCache(t)
	out := runPython(t, py, `import json, os, sys
from huggingface_hub import snapshot_download, hf_hub_download, scan_cache_dir
res = {}
for repo in os.environ["REPOS"].split():
    r = res[repo] = {}
    r["local_files_only"] = snapshot_download(repo, local_files_only=True)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import huggingface_hub.constants as c; c.HF_HUB_OFFLINE = True
    r["offline"] = snapshot_download(repo)
    r["config"] = hf_hub_download(repo, "config.json", local_files_only=True)
info = scan_cache_dir()
res["warnings"] = [str(w) for w in info.warnings]
res["repos"] = {x.repo_id: {"revisions": [{"commit": v.commit_hash, "refs": sorted(v.refs), "files": sorted(str(f.file_path.relative_to(v.snapshot_path)) for f in v.files)} for v in x.revisions]} for x in info.repos}
print(json.dumps(res))`, "HF_ENDPOINT="+s.URL, "HF_HUB_CACHE="+cache, "REPOS="+strings.Join(slices.Sorted(maps.Keys(snaps)), " "))
	var res map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	var warnings []string
	json.Unmarshal(res["warnings"], &warnings)
	if len(warnings) > 0 {
		t.Errorf("scan_cache_dir warns about Sena's cache: %v", warnings)
	}
	var repos map[string]struct {
		Revisions []struct {
			Commit string
			Refs   []string
			Files  []string
		}
	}
	json.Unmarshal(res["repos"], &repos)
	for repo, snap := range snaps {
		var r struct{ LocalFilesOnly, Offline, Config string }
		var raw map[string]string
		json.Unmarshal(res[repo], &raw)
		r.LocalFilesOnly, r.Offline, r.Config = raw["local_files_only"], raw["offline"], raw["config"]
		if r.LocalFilesOnly != snap.Path || r.Offline != snap.Path || r.Config != filepath.Join(snap.Path, "config.json") {
			t.Errorf("%s: huggingface_hub offline found %+v, want the snapshot %s", repo, r, snap.Path)
		}
		revs := repos[repo].Revisions
		if len(revs) != 1 || revs[0].Commit != snap.Commit || !slices.Equal(revs[0].Refs, []string{"main"}) || !slices.Equal(revs[0].Files, snap.Files) {
			t.Errorf("%s: scan_cache_dir sees %+v; want commit %s, ref main and files %v", repo, revs, snap.Commit, snap.Files)
		}
	}

	// The hf CLI, offline, on the same cache.
	hf, err := exec.LookPath("hf")
	if err != nil {
		t.Fatalf("no hf CLI beside huggingface_hub: %v", err)
	}
	for repo, snap := range snaps {
		got := runHF(t, hf, s.URL, cache, "HF_HUB_OFFLINE=1", "download", repo)
		if !strings.Contains(got, snap.Path) {
			t.Errorf("hf download %s offline: %q, want the snapshot %s", repo, got, snap.Path)
		}
	}
	if s.Requests() != 0 {
		t.Errorf("offline huggingface_hub made requests: %v", s.Log())
	}
}

// TestHFDownloadLocalDirFromSenasCache: `hf download --local-dir` copies
// files from the cache once the Hub has told it the commit, so on Sena's
// cache it fetches no file content; the local dir is then complete, and
// the same command works offline. (Offline with an empty local dir it
// fails on any cache, huggingface_hub's own too: it never reads the cache
// before asking the Hub which commit to copy.)
func TestHFDownloadLocalDirFromSenasCache(t *testing.T) {
	needPython(t, "huggingface_hub")
	hf, err := exec.LookPath("hf")
	if err != nil {
		t.Fatalf("no hf CLI beside huggingface_hub: %v", err)
	}
	s, cache, snaps := senaCache(t)
	for repo, snap := range snaps {
		local := t.TempDir()
		runHF(t, hf, s.URL, cache, "", "download", repo, "--local-dir", local, "--exclude", "*.bin", "--exclude", "*.bin.index.json")
		for _, f := range snap.Files {
			want, _ := os.ReadFile(filepath.Join(snap.Path, f))
			got, err := os.ReadFile(filepath.Join(local, f))
			if err != nil || string(got) != string(want) {
				t.Errorf("%s: %s in the local dir: %v", repo, f, err)
			}
			if n := s.Downloads(repo, "main", f); n != 0 {
				t.Errorf("%s: hf fetched %s from the Hub %d times; it is in Sena's cache", repo, f, n)
			}
		}
		s.ResetStats()
		if got := runHF(t, hf, s.URL, cache, "HF_HUB_OFFLINE=1", "download", repo, "--local-dir", local, "--exclude", "*.bin", "--exclude", "*.bin.index.json"); !strings.Contains(got, local) {
			t.Errorf("hf download --local-dir offline: %q", got)
		}
		if s.Requests() != 0 {
			t.Errorf("offline hf made requests: %v", s.Log())
		}
	}
}

// runHF runs the hf CLI on cache against the test Hub; extra is one more
// KEY=VALUE for its environment (or "").
func runHF(t *testing.T, hf, endpoint, cache, extra string, args ...string) string {
	t.Helper()
	cmd := exec.Command(hf, args...)
	cmd.Env = append(os.Environ(), "HF_TOKEN=", "HF_HUB_DISABLE_TELEMETRY=1", "HF_HUB_DISABLE_PROGRESS_BARS=1", "HF_HUB_DISABLE_XET=1",
		"HF_HOME="+t.TempDir(), "HF_ENDPOINT="+endpoint, "HF_HUB_CACHE="+cache, "NO_COLOR=1")
	if extra != "" {
		cmd.Env = append(cmd.Env, extra)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hf %v: %v\n%s", args, err, out)
	}
	return string(out)
}
