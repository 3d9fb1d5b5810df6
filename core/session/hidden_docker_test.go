package session

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/hub"
	"github.com/sena-labs/sena/hub/hubtest"
	"github.com/sena-labs/sena/providers/docker"
)

// On Docker a hidden model is blinded: only its own files are mounted,
// under a neutral name, and nothing the kernel can list (paths, the
// environment, process arguments) names it; a visible model next to it
// sees its own repo folder and no other cached model.
func TestHiddenModelIsBlindOnDocker(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil || exec.Command("docker", "info").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI needs a Docker engine")
		}
		t.Skip("no Docker engine")
	}
	out, err := exec.Command("../../images/build-test-image").Output()
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	image := strings.TrimSpace(string(out)[strings.LastIndex(strings.TrimSpace(string(out)), "\n")+1:])

	const secret = "zebra-finch" // in the hidden model's name only
	hubSrv := hubtest.NewServer(t)
	hubSrv.AddRepo("sena-test/"+secret+"-7b", "main", hubtest.TinyLlama())
	hubSrv.AddRepo("sena-test/visible-llama", "main", hubtest.TinyLlama())
	hubSrv.AddRepo("sena-test/other-cached", "main", hubtest.TinyLlama())
	cache := t.TempDir()
	client := hub.NewClient(&hub.Options{Endpoint: hubSrv.URL, CacheDir: cache})
	if _, err := client.Download(context.Background(), "sena-test/other-cached", "", nil); err != nil {
		t.Fatal(err)
	}

	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(Params{Store: store, Models: client})
	cfg := &core.SandboxConfig{Provider: "docker", Image: image, Models: []core.ModelConfig{
		{Name: "sena-test/" + secret + "-7b", Hidden: true}, {Name: "sena-test/visible-llama"},
	}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	p, err := docker.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := p.Info(context.Background())
	spec := core.SandboxSpec{Image: image, Env: map[string]string{}}
	models, _, err := m.prepareModels(context.Background(), cfg, info, &spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, mo := range models {
		if data, _ := json.Marshal(mo); strings.Contains(string(data), secret) {
			t.Errorf("the record's view of a hidden model names it: %s", data)
		}
	}
	req := &core.CreateRequest{
		SessionID: "hidden" + newID(), Labels: map[string]string{core.LabelManaged: "true", core.LabelStateDir: "hidden-test"},
		Spec: spec, JupyterToken: newID() + newID(), WorkDir: t.TempDir(),
	}
	req.Labels[core.LabelSession] = req.SessionID
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := p.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy(context.Background(), &core.DestroyRequest{Handle: resp.Handle})
	srv, _ := kernel.NewServer(resp.Endpoint.URL, req.JupyterToken)
	if err := srv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	js, err := srv.StartSession(ctx, "probe.ipynb", "python3")
	if err != nil {
		t.Fatal(err)
	}
	k, err := srv.Connect(ctx, js.Kernel.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	run := func(code string) string {
		t.Helper()
		var b strings.Builder
		res, err := k.Execute(ctx, code, &kernel.ExecuteOptions{OnEvent: func(e kernel.Event) {
			var s struct{ Text string }
			if e.Type == "stream" && json.Unmarshal(e.Content, &s) == nil {
				b.WriteString(s.Text)
			}
		}})
		if err != nil || res.Status != "ok" {
			t.Fatalf("%s: %+v %v", code, res, err)
		}
		return strings.TrimSpace(b.String())
	}
	// Everything the kernel can list: every path, the environment, every
	// process's arguments and environment.
	found := run(`import os, re
needle = re.compile(r"zebra|finch", re.I)
hits = []
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    if root in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    hits += [os.path.join(root, n) for n in dirs + files if needle.search(n)]
hits += [k + "=" + v for k, v in os.environ.items() if needle.search(k + v)]
for pid in filter(str.isdigit, os.listdir("/proc")):
    for f in ("cmdline", "environ"):
        try:
            if needle.search(open(f"/proc/{pid}/{f}", "rb").read().decode(errors="replace")):
                hits.append(f"/proc/{pid}/{f}")
        except OSError:
            pass
print(hits)`)
	if found != "[]" {
		t.Errorf("the kernel can find the hidden model's name: %s", found)
	}
	if got := run("import json; print(json.load(open('/sena/models/hidden-1/config.json'))['model_type'], sorted(os.listdir('/sena/hf-cache')))"); got != "llama ['models--sena-test--visible-llama']" {
		t.Errorf("mounted models: %q; want the hidden one's config under a neutral name and only the visible repo in the cache", got)
	}
	if got := run("import os; print(sorted(os.listdir(os.path.dirname(os.environ['MODEL_SENA_TEST_VISIBLE_LLAMA_PATH']))) != [])"); got != "True" {
		t.Errorf("the visible model's snapshot: %q", got)
	}
}
