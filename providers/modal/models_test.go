package modal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

// Model weights end to end: the host asks the test Hub, the fake runs the
// download script with huggingface_hub against the same Hub, volumes are
// directories the fake shares between sandboxes.

func modelRequest(session string, models ...string) *core.CreateRequest {
	req := minimalRequest(session)
	for _, m := range models {
		req.Spec.Models = append(req.Spec.Models, core.ModelConfig{Name: m})
	}
	return req
}

// Issue 15 #1: a gated model without a token fails on the host, before any
// sandbox starts, saying what to do.
func TestGatedModelWithoutTokenFailsBeforeAnySandbox(t *testing.T) {
	hub := startHub(t)
	hub.AddRepo("meta-llama/Llama-2-7b-hf", "main", tinyModel())
	hub.AddToken("hf_granted")
	hub.Gate("meta-llama/Llama-2-7b-hf", "hf_granted")
	p, fake, _ := newTestProvider(t)
	_, err := p.Create(testContext(t), modelRequest("sena-gated", "meta-llama/Llama-2-7b-hf"))
	if err == nil || !strings.Contains(err.Error(), "gated") || !strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), "before starting any sandbox") {
		t.Fatalf("Create of a gated model without a token = %v, want an error saying it is gated and to set HF_TOKEN", err)
	}
	if m := fake.Methods(); len(m) > 0 {
		t.Errorf("Modal was called before the Hub refused: %v", m)
	}
}

// Issue 15 #1: the token is found as the hub client finds it (here the
// token file `hf auth login` writes under HF_HOME) and reaches the
// download sandbox only.
func TestHubTokenFromTheTokenFileReachesOnlyTheDownload(t *testing.T) {
	hub := startHub(t)
	p, fake, _ := newTestProvider(t)
	stubDownloads(fake)
	hub.AddRepo("meta-llama/Llama-2-7b-hf", "main", tinyModel())
	hub.AddToken("hf_from_file")
	hub.Gate("meta-llama/Llama-2-7b-hf", "hf_from_file")
	if err := os.WriteFile(filepath.Join(os.Getenv("HF_HOME"), "token"), []byte("hf_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(testContext(t), modelRequest("sena-tokenfile", "meta-llama/Llama-2-7b-hf")); err != nil {
		t.Fatalf("Create of a gated model with the token file's token: %v", err)
	}
	dls := downloadCreates(fake)
	if len(dls) != 1 || len(dls[0].GetSecretIds()) != 1 || fake.SecretEnv(dls[0].GetSecretIds()[0])["HF_TOKEN"] != "hf_from_file" {
		t.Fatalf("download sandboxes %d; want one whose secret holds the token file's HF_TOKEN", len(dls))
	}
	for _, id := range sessionCreate(t, fake).GetSecretIds() {
		for k, v := range fake.SecretEnv(id) {
			if v == "hf_from_file" {
				t.Errorf("the session's sandbox got the Hub token in %s; only the download may", k)
			}
		}
	}
}

// Issue 15 #3 and #7: a partial download in the volume is never marked
// complete, even when the sandbox cannot reach the Hub; the next up
// completes it with the selected files only and records the commit.
func TestPartialDownloadIsNeverMarkedComplete(t *testing.T) {
	py := hfPython(t)
	hub := startHub(t)
	files := tinyModel()
	commit := hub.AddRepo("org/tiny", "main", files)
	p, fake, _ := newTestProvider(t)
	fake.RunBatchLocally(t, py)
	model := core.ModelConfig{Name: "org/tiny"}
	// What an interrupted download leaves: some files, a truncated one, no marker.
	vol := fake.CreateVolume(VolumeName(model))
	writeStub(t, vol, "config.json", string(files["config.json"]))
	writeStub(t, vol, "model.safetensors", "partial")

	// The sandbox cannot reach the Hub (the host could): huggingface_hub
	// hands the partial directory back as it is.
	t.Setenv("HF_HUB_OFFLINE", "1")
	_, err := p.Create(testContext(t), modelRequest("sena-partial", "org/tiny"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "did not complete") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("Create over a partial volume, offline: %v; want ErrUnavailable with the download's log naming the short file", err)
	}
	if _, err := os.Stat(filepath.Join(vol, markerFile)); err == nil {
		t.Fatal("the partial download was marked complete")
	}
	if n := len(fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate")); n != 1 {
		t.Errorf("%d sandboxes created, want the download only", n)
	}

	os.Unsetenv("HF_HUB_OFFLINE")
	if _, err := p.Create(testContext(t), modelRequest("sena-complete", "org/tiny")); err != nil {
		t.Fatalf("Create with the Hub reachable: %v", err)
	}
	var done struct {
		Commit string           `json:"commit"`
		Files  map[string]int64 `json:"files"`
	}
	data, err := os.ReadFile(filepath.Join(vol, markerFile))
	if err != nil || json.Unmarshal(data, &done) != nil || done.Commit != commit {
		t.Fatalf("marker = %s (%v), want commit %s", data, err, commit)
	}
	if len(done.Files) != 2 || done.Files["model.safetensors"] != int64(len(files["model.safetensors"])) {
		t.Errorf("marker files = %v, want config.json and model.safetensors with their sizes", done.Files)
	}
	if fi, err := os.Stat(filepath.Join(vol, "model.safetensors")); err != nil || fi.Size() != int64(len(files["model.safetensors"])) {
		t.Errorf("model.safetensors in the volume: %v, %v", fi, err)
	}
	// The hub client's selection: safetensors, not the .bin copy too (#7).
	if _, err := os.Stat(filepath.Join(vol, "pytorch_model.bin")); err == nil || hub.Downloads("org/tiny", "main", "pytorch_model.bin") != 0 {
		t.Error("the .bin copy of the weights was downloaded too")
	}
	// The session's bootstrap is told which commit to expect.
	if args := strings.Join(sessionCreate(t, fake).GetEntrypointArgs(), " "); !strings.Contains(args, commit) {
		t.Errorf("the session's command does not name commit %s for its check", commit)
	}
}

// Issue 15 #6: two ups of one model do not write its volume at once: the
// download sandbox's name (the volume's) is a lock, and the second up
// waits for the first and finds the weights there.
func TestConcurrentUpsOfOneModelDownloadOnce(t *testing.T) {
	py := hfPython(t)
	hub := startHub(t)
	hub.AddRepo("org/tiny", "main", tinyModel())
	hub.SetDelay(time.Second) // every transfer: the downloads would overlap
	p, fake, _ := newTestProvider(t)
	fake.RunBatchLocally(t, py)
	ctx := testContext(t)
	var progress syncBuffer
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []string{"sena-one", "sena-two"} {
		wg.Go(func() {
			req := modelRequest(s, "org/tiny")
			req.Progress = func(p core.Progress) { progress.Write([]byte(p.String() + "\n")) }
			_, errs[i] = p.Create(ctx, req)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("up %d: %v", i, err)
		}
	}
	if n := hub.Downloads("org/tiny", "main", "model.safetensors"); n != 1 {
		t.Errorf("the weights were downloaded %d times, want once", n)
	}
	if !strings.Contains(progress.String(), "waiting for it") {
		t.Errorf("neither up said it waited for the other's download:\n%s", progress.String())
	}
	for _, dl := range downloadCreates(fake) {
		if dl.GetName() != VolumeName(core.ModelConfig{Name: "org/tiny"}) {
			t.Errorf("download sandbox named %q, want the volume's name", dl.GetName())
		}
	}
}

// A download sandbox left by a sena that died before tagging it holds the
// volume's name; the next up terminates it instead of waiting for ever.
func TestOrphanedDownloadIsTakenOver(t *testing.T) {
	hub := startHub(t)
	hub.AddRepo("org/tiny", "main", tinyModel())
	p, fake, _ := newTestProvider(t)
	stubDownloads(fake)
	untaggedGrace = 100 * time.Millisecond
	t.Cleanup(func() { untaggedGrace = 3 * time.Second })
	orphan := fake.AddNamedSandbox(appName, VolumeName(core.ModelConfig{Name: "org/tiny"}))
	if _, err := p.Create(testContext(t), modelRequest("sena-after-orphan", "org/tiny")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, running, _ := fake.SandboxState(orphan); running {
		t.Error("the orphaned download still runs")
	}
}
