package modal

import (
	"strings"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

func fullRequest() *core.CreateRequest {
	req := minimalRequest("sena-full")
	req.Spec = core.SandboxSpec{
		GPU:            core.GPU{Kind: "H100", Count: 2},
		PythonPackages: []string{"transformers>=4.44", "nnsight"},
		SystemPackages: []string{"git"},
		Env:            map[string]string{"FOO": "bar", "HF_TOKEN": "hf_local_secret", "WANDB_API_KEY": "wandb_local_secret"},
		SecretNames:    []string{"HF_TOKEN", "WANDB_API_KEY"},
		Models:         []core.ModelConfig{{Name: "google/gemma-2-9b-it"}},
		CPUs:           4,
		MemoryMiB:      32768,
		Timeout:        2 * time.Hour,
		IdleTimeout:    30 * time.Minute,
		Files:          map[string][]byte{"lib/probe.py": []byte("print('hi')\n")},
	}
	return req
}

// newModelProvider is newTestProvider with a Hub serving the models of
// fullRequest and downloads that succeed once given their manifest (the
// real script runs in models_test.go and scripts_test.go).
func newModelProvider(t *testing.T) (*Provider, *fakemodal.Server, *syncBuffer) {
	t.Helper()
	hub := startHub(t)
	for _, m := range []string{"google/gemma-2-9b-it", "openai-community/gpt2"} {
		hub.AddRepo(m, "main", tinyModel())
	}
	p, fake, logs := newTestProvider(t)
	stubDownloads(fake)
	return p, fake, logs
}

// stubDownloads makes download sandboxes wait for their manifest, then
// exit 0, without running the script.
func stubDownloads(fake *fakemodal.Server) {
	fake.OnBatch(func(b *fakemodal.Batch) (int, string) {
		if _, err := b.WaitFile(downloadManifest+".ready", 10*time.Second); err != nil {
			return 1, "no manifest: " + err.Error()
		}
		return 0, ""
	})
}

func TestCreateAsksModalForTheSpec(t *testing.T) {
	p, fake, _ := newModelProvider(t)
	fake.AddSecret("WANDB_API_KEY", map[string]string{"WANDB_API_KEY": "stored-on-modal"})
	req := fullRequest()

	resp, err := p.Create(testContext(t), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	def := sessionCreate(t, fake)

	if g := def.GetResources().GetGpuConfig(); g.GetGpuType() != "H100" || g.GetCount() != 2 {
		t.Errorf("GPU = %s x%d, want H100 x2", g.GetGpuType(), g.GetCount())
	}
	// Requests are limits too (#11).
	if r := def.GetResources(); r.GetMilliCpu() != 4000 || r.GetMemoryMb() != 32768 || r.GetMilliCpuMax() != 4000 || r.GetMemoryMbMax() != 32768 {
		t.Errorf("resources = %d (max %d) mCPU, %d (max %d) MB; want 4000 and 32768 as request and limit",
			r.GetMilliCpu(), r.GetMilliCpuMax(), r.GetMemoryMb(), r.GetMemoryMbMax())
	}
	// Modal's idle timeout counts tunnel connections, not kernel work (#4):
	// it is not sent; Jupyter applies Sena's rule.
	if def.GetTimeoutSecs() != 7200 || def.HasIdleTimeoutSecs() {
		t.Errorf("timeout %ds, idle timeout sent: %v; want 7200 and none", def.GetTimeoutSecs(), def.HasIdleTimeoutSecs())
	}
	ports := def.GetOpenPorts().GetPorts()
	if len(ports) != 1 || ports[0].GetPort() != core.JupyterPort || ports[0].GetUnencrypted() {
		t.Errorf("open ports = %v, want one encrypted port %d", ports, core.JupyterPort)
	}
	if def.GetName() != req.SessionID || def.GetWorkdir() != workDir {
		t.Errorf("name %q workdir %q, want %q and %q", def.GetName(), def.GetWorkdir(), req.SessionID, workDir)
	}
	args := strings.Join(def.GetEntrypointArgs(), "\n")
	for _, want := range []string{"--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--ServerApp.root_dir=/workspace", "--sena-idle-timeout=1800"} {
		if !strings.Contains(args, want) {
			t.Errorf("command lacks %s:\n%s", want, args)
		}
	}

	mounts := def.GetVolumeMounts()
	wantVolume := fake.VolumeID(VolumeName(req.Spec.Models[0]))
	if len(mounts) != 1 || !mounts[0].GetReadOnly() || mounts[0].GetMountPath() != "/models/google--gemma-2-9b-it" || mounts[0].GetVolumeId() != wantVolume || wantVolume == "" {
		t.Errorf("volume mounts = %v, want %s read-only at /models/google--gemma-2-9b-it", mounts, wantVolume)
	}

	// The named Modal secret is used in place of the local value; the rest
	// of the environment travels in one ephemeral secret.
	var named, env map[string]string
	for _, id := range def.GetSecretIds() {
		if fake.SecretName(id) == "WANDB_API_KEY" {
			named = fake.SecretEnv(id)
		} else {
			env = fake.SecretEnv(id)
		}
	}
	if named == nil {
		t.Errorf("the named Modal secret WANDB_API_KEY is not attached (secret ids %v)", def.GetSecretIds())
	}
	want := map[string]string{
		"JUPYTER_TOKEN": testToken, "FOO": "bar", "HF_TOKEN": "hf_local_secret",
		core.ModelEnvVar("google/gemma-2-9b-it"): "/models/google--gemma-2-9b-it",
	}
	if len(env) != len(want) {
		t.Errorf("ephemeral secret = %v, want %v", env, want)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("ephemeral secret %s = %q, want %q", k, env[k], v)
		}
	}

	tags, running, _ := fake.SandboxState(resp.Handle.ID)
	if !running || len(tags) != len(req.Labels) || tags[core.LabelSession] != req.SessionID || tags[core.LabelManaged] != "true" {
		t.Errorf("sandbox %s running=%v tags=%v, want running with %v", resp.Handle.ID, running, tags, req.Labels)
	}
	if resp.Handle.Provider != Name || resp.Endpoint.URL != fake.TunnelURL(resp.Handle.ID, core.JupyterPort)+"/" || !strings.HasPrefix(resp.Endpoint.URL, "https://") {
		t.Errorf("handle %+v endpoint %+v: want provider %q and the tunnel URL", resp.Handle, resp.Endpoint, Name)
	}
}

func TestCreateBuildsTheRecipeThenThePackages(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	req := fullRequest()
	req.Spec.Models = nil
	if _, err := p.Create(testContext(t), req); err != nil {
		t.Fatalf("Create: %v", err)
	}
	layers := fakemodal.Requests[*pb.ImageGetOrCreateRequest](fake, "ImageGetOrCreate")
	if len(layers) != 3 {
		t.Fatalf("%d image layers built, want 3 (base+recipe as modal-go splits it, packages)", len(layers))
	}
	var got []string
	for _, l := range layers {
		got = append(got, strings.Join(l.GetImage().GetDockerfileCommands(), "\n"))
	}
	wantBase := "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04"
	if got[0] != wantBase {
		t.Errorf("first layer = %q, want %q", got[0], wantBase)
	}
	if !containsAll(got[1], "FROM base", "ENV PYTHONUNBUFFERED=1     PIP_BREAK_SYSTEM_PACKAGES=1", "RUN apt-get update     && apt-get install -y python3 python3-pip", "WORKDIR /workspace") {
		t.Errorf("recipe layer = %q", got[1])
	}
	if !containsAll(got[2], "FROM base",
		"RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*",
		"RUN python3 -m pip install 'transformers>=4.44' 'nnsight'") {
		t.Errorf("package layer = %q", got[2])
	}
}

func TestCreateDownloadsModelsIntoVolumesFirst(t *testing.T) {
	p, fake, _ := newModelProvider(t)
	req := fullRequest()
	req.Spec.Models = append(req.Spec.Models, core.ModelConfig{Name: "openai-community/gpt2"})
	if _, err := p.Create(testContext(t), req); err != nil {
		t.Fatalf("Create: %v", err)
	}
	creates := fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate")
	if n := len(creates); n != 3 || len(creates[2].GetDefinition().GetOpenPorts().GetPorts()) == 0 {
		t.Fatalf("want the two downloads, then the session's sandbox; got %d creates", n)
	}
	// One download per volume, named after it: the name is the lock that
	// keeps two ups from writing one volume.
	for _, dl := range downloadCreates(fake) {
		if dl.GetResources().GetGpuConfig().GetGpuType() != "" {
			t.Errorf("the download asks for a GPU: %v", dl.GetResources().GetGpuConfig())
		}
		mounts := dl.GetVolumeMounts()
		if len(mounts) != 1 || mounts[0].GetReadOnly() {
			t.Fatalf("download %s mounts %v, want its one volume read-write", dl.GetName(), mounts)
		}
		wantName := ""
		for _, m := range req.Spec.Models {
			if fake.VolumeID(VolumeName(m)) == mounts[0].GetVolumeId() {
				wantName = VolumeName(m)
			}
		}
		if wantName == "" || dl.GetName() != wantName {
			t.Errorf("download named %q mounts volume %s; want it named after the volume (%q)", dl.GetName(), mounts[0].GetVolumeId(), wantName)
		}
		// Only HF_TOKEN goes to the download, not the session's other secrets.
		var env map[string]string
		for _, id := range dl.GetSecretIds() {
			env = fake.SecretEnv(id)
		}
		if len(dl.GetSecretIds()) != 1 || env["HF_TOKEN"] != "hf_local_secret" || env["WANDB_API_KEY"] != "" || env["FOO"] != "" {
			t.Errorf("download secrets = %v (env %v), want HF_TOKEN only", dl.GetSecretIds(), env)
		}
	}
	// Tagged like the session, plus its role, so that gc finds them.
	tagged := 0
	for _, r := range fakemodal.Requests[*pb.SandboxTagsSetRequest](fake, "SandboxTagsSet") {
		tags := map[string]string{}
		for _, tag := range r.GetTags() {
			tags[tag.GetTagName()] = tag.GetTagValue()
		}
		if tags[labelRole] == roleFetch {
			tagged++
			if len(tags) != len(req.Labels)+1 || tags[core.LabelSession] != req.SessionID || tags[core.LabelManaged] != "true" {
				t.Errorf("download tags = %v, want %v plus %s", tags, req.Labels, labelRole)
			}
		}
	}
	if tagged != 2 {
		t.Errorf("%d downloads tagged %s=%s, want 2", tagged, labelRole, roleFetch)
	}
}

func TestSecretsStayOutOfRequestsAndLogs(t *testing.T) {
	p, fake, logs := newModelProvider(t)
	fake.AddSecret("WANDB_API_KEY", map[string]string{"WANDB_API_KEY": "stored-on-modal"})
	if _, err := p.Create(testContext(t), fullRequest()); err != nil {
		t.Fatalf("Create: %v", err)
	}
	secrets := []string{testToken, "hf_local_secret", "wandb_local_secret", fakemodal.TokenSecret}
	for _, r := range fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate") {
		text := prototext.Format(r)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("sandbox definition holds secret %q:\n%s", s, text)
			}
		}
	}
	for _, r := range fakemodal.Requests[*pb.SandboxTagsSetRequest](fake, "SandboxTagsSet") {
		for _, s := range secrets {
			if strings.Contains(prototext.Format(r), s) {
				t.Errorf("tags hold secret %q", s)
			}
		}
	}
	// The wandb key has a Modal secret of its name: its local value never
	// leaves the host.
	for _, r := range fakemodal.Requests[*pb.SecretGetOrCreateRequest](fake, "SecretGetOrCreate") {
		if strings.Contains(prototext.Format(r), "wandb_local_secret") {
			t.Errorf("the local WANDB_API_KEY was sent although Modal has that secret")
		}
	}
	if logs.String() == "" {
		t.Fatal("no logs captured; the check below would prove nothing")
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs hold secret %q", s)
		}
	}
}
