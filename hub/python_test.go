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

// needPython finds python3 with the given modules, or skips (fails in CI).
func needPython(t *testing.T, modules ...string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).Run()
	}
	if err != nil {
		msg := "python3 with " + strings.Join(modules, ", ") + " is needed: " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// runPython runs code with env added to a clean Hugging Face environment and
// returns its last stdout line.
func runPython(t *testing.T, py, code string, env ...string) string {
	t.Helper()
	cmd := exec.Command(py, "-c", code)
	cmd.Env = append(os.Environ(), "HF_TOKEN=", "HF_HUB_DISABLE_TELEMETRY=1", "HF_HUB_DISABLE_PROGRESS_BARS=1",
		"HF_HUB_DISABLE_XET=1", "HF_HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s\n%s", err, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func TestHuggingFaceHubMakesTheSameCache(t *testing.T) {
	py := needPython(t, "huggingface_hub")
	s, _, _ := serveTiny(t)
	sena, official := t.TempDir(), t.TempDir()
	snap, err := newClient(t, s, sena, nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	// huggingface_hub has no safetensors preference: ask it to skip the .bin, as Sena did.
	got := runPython(t, py, `from huggingface_hub import snapshot_download
print(snapshot_download("`+tiny+`", ignore_patterns=["*.bin"]))`, "HF_ENDPOINT="+s.URL, "HF_HUB_CACHE="+official)
	if want := filepath.Join(official, "models--sena-test--tiny-llama", "snapshots", snap.Commit); got != want {
		t.Fatalf("huggingface_hub's snapshot %s, want %s", got, want)
	}
	// The same files, links and refs. The one difference: huggingface_hub
	// keeps the commit's file list in trees/, where it means "a complete
	// snapshot has every one of these"; Sena fetched the safetensors only,
	// so it keeps the list in .sena/trees/ (see writeTree), same bytes.
	a, b := listCache(t, sena), listCache(t, official)
	treeFile := "models--sena-test--tiny-llama/trees/" + snap.Commit + ".json"
	senaTree := "models--sena-test--tiny-llama/.sena/trees/" + snap.Commit + ".json"
	for _, k := range []string{"models--sena-test--tiny-llama/.sena", "models--sena-test--tiny-llama/.sena/trees", senaTree} {
		if _, ok := a[k]; !ok {
			t.Errorf("sena's cache lacks %s", k)
		}
		delete(a, k)
	}
	for _, k := range []string{"models--sena-test--tiny-llama/trees", treeFile} {
		delete(b, k)
	}
	if _, ok := a[treeFile]; ok {
		t.Errorf("sena wrote %s although it fetched only some of the files it lists", treeFile)
	}
	if !strings.HasPrefix(a["models--sena-test--tiny-llama/snapshots/"+snap.Commit+"/model.safetensors"], "link -> ") {
		t.Fatalf("the cache listing misses the snapshot: %v", a)
	}
	if !maps.Equal(a, b) {
		for k := range maps.Keys(a) {
			if a[k] != b[k] {
				t.Errorf("%s: sena %q, huggingface_hub %q", k, a[k], b[k])
			}
		}
		for k := range maps.Keys(b) {
			if _, ok := a[k]; !ok {
				t.Errorf("%s: only huggingface_hub has it (%s)", k, b[k])
			}
		}
	}
	for _, f := range [][2]string{{senaTree, treeFile}, {"CACHEDIR.TAG", "CACHEDIR.TAG"}} {
		x, _ := os.ReadFile(filepath.Join(sena, f[0]))
		y, _ := os.ReadFile(filepath.Join(official, f[1]))
		if string(x) != string(y) {
			t.Errorf("%s differs:\nsena:\n%s\nhuggingface_hub:\n%s", f[0], x, y)
		}
	}
}

func TestHuggingFaceHubReusesSenasCacheOffline(t *testing.T) {
	py := needPython(t, "huggingface_hub")
	s, _, _ := serveTiny(t)
	cache := t.TempDir()
	snap, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ResetStats()
	got := runPython(t, py, `from huggingface_hub import snapshot_download, hf_hub_download
p = snapshot_download("`+tiny+`", ignore_patterns=["*.bin"])
w = hf_hub_download("`+tiny+`", "model.safetensors")
assert w.startswith(p), (w, p)
print(p)`, "HF_HUB_OFFLINE=1", "HF_ENDPOINT="+s.URL, "HF_HUB_CACHE="+cache)
	if got != snap.Path {
		t.Fatalf("huggingface_hub offline found %s, want %s", got, snap.Path)
	}
	if s.Requests() != 0 {
		t.Fatalf("offline huggingface_hub made requests: %v", s.Log())
	}
}

func TestSenaReusesHuggingFaceHubsCache(t *testing.T) {
	py := needPython(t, "huggingface_hub")
	s, _, _ := serveTiny(t)
	cache := t.TempDir()
	runPython(t, py, `from huggingface_hub import snapshot_download
print(snapshot_download("`+tiny+`"))`, "HF_ENDPOINT="+s.URL, "HF_HUB_CACHE="+cache)
	s.ResetStats()
	snap, err := newClient(t, s, cache, nil).Download(context.Background(), tiny, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests() != 0 || snap.BytesDownloaded != 0 {
		t.Fatalf("%d requests, %d bytes for a model huggingface_hub had cached: %v", s.Requests(), snap.BytesDownloaded, s.Log())
	}
}

// TestTransformersLoadsWhatSenaDownloaded: transformers, offline, loads
// every interop repo (safetensors beside .bin; sharded with both indexes)
// from the cache Sena wrote, by path and by repo id, with every weight.
func TestTransformersLoadsWhatSenaDownloaded(t *testing.T) {
	py := needPython(t, "torch", "transformers")
	s, cache, snaps := senaCache(t)
	repos := slices.Sorted(maps.Keys(snaps))
	paths := make([]string, len(repos))
	for i, r := range repos {
		paths[i] = snaps[r].Path
	}
	out := runPython(t, py, `import json, os, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
res = {}
for repo, path in zip(os.environ["REPOS"].split(), os.environ["SNAPS"].split()):
    for name, src, kw in [("path", path, {}), ("repo", repo, {"cache_dir": os.environ["CACHE"]})]:
        model, info = AutoModelForCausalLM.from_pretrained(src, output_loading_info=True, **kw)
        tok = AutoTokenizer.from_pretrained(src, **kw)
        ids = tok("hello world", return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits
        res[repo + " by " + name] = {"class": type(model).__name__, "missing": sorted(info["missing_keys"]), "unexpected": sorted(info["unexpected_keys"]),
                     "mismatched": [str(m) for m in info["mismatched_keys"]], "ids": ids[0].tolist(),
                     "shape": list(logits.shape), "finite": bool(torch.isfinite(logits).all())}
print(json.dumps(res))`, "HF_HUB_OFFLINE=1", "HF_ENDPOINT="+s.URL, "REPOS="+strings.Join(repos, " "), "SNAPS="+strings.Join(paths, " "), "CACHE="+cache)
	var res map[string]struct {
		Class                           string
		Missing, Unexpected, Mismatched []string
		IDs                             []int
		Shape                           []int
		Finite                          bool
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	if len(res) != 2*len(repos) {
		t.Fatalf("loaded %d ways, want %d: %v", len(res), 2*len(repos), res)
	}
	for how, r := range res {
		if r.Class != "LlamaForCausalLM" || len(r.Missing)+len(r.Unexpected)+len(r.Mismatched) != 0 || !r.Finite {
			t.Fatalf("%s: %+v; want a LlamaForCausalLM with every weight loaded", how, r)
		}
		if len(r.IDs) != 2 || r.IDs[0] != 4 || r.IDs[1] != 5 || len(r.Shape) != 3 || r.Shape[2] != hubtest.TinyLlamaConfig.Vocab {
			t.Fatalf("%s: tokens %v, logits %v; want [4 5] and vocab-sized logits", how, r.IDs, r.Shape)
		}
	}
	if s.Requests() != 0 {
		t.Fatalf("offline transformers made requests: %v", s.Log())
	}
}
