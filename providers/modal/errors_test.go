package modal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/providers/modal/internal/fakemodal"
)

func TestBadInputFailsBeforeAnyCall(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*core.CreateRequest)
		target error
	}{
		{"gpu kind Modal lacks", func(r *core.CreateRequest) { r.Spec.GPU = core.GPU{Kind: "K80", Count: 1} }, core.ErrUnsupported},
		{"too many A10G", func(r *core.CreateRequest) { r.Spec.GPU = core.GPU{Kind: "A10G", Count: 5} }, core.ErrUnsupported},
		{"too many H100", func(r *core.CreateRequest) { r.Spec.GPU = core.GPU{Kind: "H100", Count: 9} }, core.ErrUnsupported},
		{"timeout past 24h", func(r *core.CreateRequest) { r.Spec.Timeout = 25 * time.Hour }, core.ErrInvalidConfig},
		{"negative idle timeout", func(r *core.CreateRequest) { r.Spec.IdleTimeout = -time.Second }, core.ErrInvalidConfig},
		{"pip option as package", func(r *core.CreateRequest) { r.Spec.PythonPackages = []string{"--index-url=http://x"} }, core.ErrInvalidConfig},
		{"shell in system package", func(r *core.CreateRequest) { r.Spec.SystemPackages = []string{"git;rm -rf /"} }, core.ErrInvalidConfig},
		{"file outside workspace", func(r *core.CreateRequest) { r.Spec.Files = map[string][]byte{"../etc/passwd": nil} }, core.ErrInvalidConfig},
		{"absolute file", func(r *core.CreateRequest) { r.Spec.Files = map[string][]byte{"/etc/passwd": nil} }, core.ErrInvalidConfig},
		{"files too large", func(r *core.CreateRequest) { r.Spec.Files = map[string][]byte{"big.bin": make([]byte, filesMax+1)} }, core.ErrInvalidConfig},
		{"label Modal refuses as a tag", func(r *core.CreateRequest) { r.Labels["team"] = "a b" }, core.ErrInvalidConfig},
		{"env key Modal refuses", func(r *core.CreateRequest) { r.Spec.Env = map[string]string{"1BAD-KEY": "x"} }, core.ErrInvalidConfig},
		{"too many A10", func(r *core.CreateRequest) { r.Spec.GPU = core.GPU{Kind: "A10", Count: 5} }, core.ErrUnsupported},
		{"too many B200+", func(r *core.CreateRequest) { r.Spec.GPU = core.GPU{Kind: "B200+", Count: 9} }, core.ErrUnsupported},
		{"no jupyter token", func(r *core.CreateRequest) { r.JupyterToken = "" }, core.ErrInvalidConfig},
		{"host mount", func(r *core.CreateRequest) { r.Spec.Mounts = []core.Mount{{Source: "/data", Target: "/data"}} }, core.ErrUnsupported},
		{"bad session id", func(r *core.CreateRequest) { r.SessionID = "a b" }, core.ErrInvalidConfig},
		{"bad model", func(r *core.CreateRequest) { r.Spec.Models = []core.ModelConfig{{Name: "gpt2"}} }, core.ErrInvalidConfig},
		{"model twice", func(r *core.CreateRequest) {
			r.Spec.Models = []core.ModelConfig{{Name: "a/b"}, {Name: "a/b", Revision: "v2"}}
		}, core.ErrInvalidConfig},
		{"image with spaces", func(r *core.CreateRequest) { r.Spec.Image = "ubuntu; rm" }, core.ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, fake, _ := newTestProvider(t)
			req := minimalRequest("sena-bad")
			tc.edit(req)
			_, err := p.Create(testContext(t), req)
			if !errors.Is(err, tc.target) {
				t.Fatalf("Create error = %v, want %v", err, tc.target)
			}
			if m := fake.Methods(); len(m) > 0 {
				t.Errorf("calls made before the input was rejected: %v", m)
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	t.Setenv("MODAL_TOKEN_ID", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
	_, err := p.Create(testContext(t), minimalRequest("sena-nocreds"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "MODAL_TOKEN_ID") || !strings.Contains(err.Error(), "modal token new") {
		t.Fatalf("error = %v, want ErrUnavailable telling how to set credentials", err)
	}
	if m := fake.Methods(); len(m) > 0 {
		t.Errorf("calls made without credentials: %v", m)
	}
}

func TestCredentialsFromModalToml(t *testing.T) {
	p, fake, _ := newTestProvider(t)
	t.Setenv("MODAL_TOKEN_ID", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
	cfg := filepath.Join(t.TempDir(), "modal.toml")
	toml := "[other]\ntoken_id = \"ak-wrong\"\ntoken_secret = \"as-wrong\"\n\n" +
		"[work]\ntoken_id = \"" + fakemodal.TokenID + "\"\ntoken_secret = \"" + fakemodal.TokenSecret + "\"\nactive = true\n"
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MODAL_CONFIG_PATH", cfg)
	if _, err := p.Create(testContext(t), minimalRequest("sena-toml")); err != nil {
		t.Fatalf("Create with the active profile's token: %v", err)
	}
	if len(fake.Running()) != 1 {
		t.Errorf("running = %v, want one sandbox", fake.Running())
	}
}

func TestRejectedCredentials(t *testing.T) {
	p, _, logs := newTestProvider(t)
	t.Setenv("MODAL_TOKEN_SECRET", "as-not-the-right-secret")
	_, err := p.Create(testContext(t), minimalRequest("sena-badcreds"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "rejected the credentials") {
		t.Fatalf("error = %v, want ErrUnavailable saying Modal rejected the credentials", err)
	}
	if strings.Contains(err.Error(), "as-not-the-right-secret") || strings.Contains(logs.String(), "as-not-the-right-secret") {
		t.Error("the token secret appears in the error or the logs")
	}
}

func TestModalErrorAnswers(t *testing.T) {
	cases := []struct {
		method string
		code   codes.Code
		target error
		says   string
	}{
		{"SandboxCreate", codes.ResourceExhausted, core.ErrUnavailable, "quota or GPU capacity"},
		{"SandboxCreate", codes.InvalidArgument, core.ErrInvalidConfig, "refused"},
		{"SandboxCreate", codes.PermissionDenied, core.ErrUnavailable, "rejected the credentials"},
		{"SandboxCreate", codes.FailedPrecondition, core.ErrUnsupported, "no H100 in this region"},
		{"ImageGetOrCreate", codes.ResourceExhausted, core.ErrUnavailable, "quota"},
		{"AppGetOrCreate", codes.Unauthenticated, core.ErrUnavailable, "rejected the credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.method+"/"+tc.code.String(), func(t *testing.T) {
			p, fake, _ := newTestProvider(t)
			fake.Fail(tc.method, tc.code, "no H100 in this region")
			req := minimalRequest("sena-err")
			req.Spec.GPU = core.GPU{Kind: "H100", Count: 1}
			_, err := p.Create(testContext(t), req)
			if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error = %v, want %v saying %q", err, tc.target, tc.says)
			}
			if r := fake.Running(); len(r) > 0 {
				t.Errorf("left running: %v", r)
			}
		})
	}
}

func TestFailedCreateLeavesNothingRunning(t *testing.T) {
	t.Run("tags refused", func(t *testing.T) {
		p, fake, _ := newTestProvider(t)
		fake.Fail("SandboxTagsSet", codes.Internal, "tag store down")
		if _, err := p.Create(testContext(t), minimalRequest("sena-tags")); err == nil {
			t.Fatal("Create succeeded without tags")
		}
		if r := fake.Running(); len(r) > 0 {
			t.Errorf("left running: %v", r)
		}
		if len(fake.Methods()) == 0 || !containsAll(strings.Join(fake.Methods(), " "), "SandboxCreate", "SandboxTerminate") {
			t.Errorf("calls = %v, want a create then a terminate", fake.Methods())
		}
	})
	t.Run("jupyter never starts", func(t *testing.T) {
		p, fake, _ := newTestProvider(t)
		fake.SetNoTunnels(true)
		_, err := p.Create(testContext(t), minimalRequest("sena-notunnel"))
		if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "exited with code 1") {
			t.Fatalf("error = %v, want ErrUnavailable: exited before Jupyter started", err)
		}
		if r := fake.Running(); len(r) > 0 {
			t.Errorf("left running: %v", r)
		}
	})
}

func TestModelDownloadFailures(t *testing.T) {
	cases := []struct {
		exit   int
		stderr string
		target error
	}{
		{exitConfig, "GatedRepoError: 403 Client Error", core.ErrInvalidConfig},
		{exitIncomplete, "incomplete download, not marked complete: model.safetensors (10 of 65536 bytes)", core.ErrUnavailable},
		{137, "Killed", core.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("exit %d", tc.exit), func(t *testing.T) {
			hub := startHub(t)
			hub.AddRepo("google/gemma-2-9b-it", "main", tinyModel())
			p, fake, _ := newTestProvider(t)
			var manifest []byte
			fake.OnBatch(func(b *fakemodal.Batch) (int, string) {
				manifest, _ = b.WaitFile(downloadManifest+".ready", 10*time.Second)
				manifest, _ = b.WaitFile(downloadManifest, time.Second)
				return tc.exit, "sena download: starting\n" + tc.stderr + "\n"
			})
			req := minimalRequest("sena-dl")
			req.Spec.Models = []core.ModelConfig{{Name: "google/gemma-2-9b-it"}}
			_, err := p.Create(testContext(t), req)
			if !errors.Is(err, tc.target) {
				t.Errorf("error = %v, want %v", err, tc.target)
			}
			// A failed download shows the end of its log (#9).
			if err == nil || !strings.Contains(err.Error(), tc.stderr) {
				t.Errorf("error = %v, want the end of the download's log (%q)", err, tc.stderr)
			}
			if n := len(fakemodal.Requests[*pb.SandboxCreateRequest](fake, "SandboxCreate")); n != 1 {
				t.Errorf("%d sandboxes created, want only the download", n)
			}
			if !strings.Contains(string(manifest), `"model.safetensors":65536`) {
				t.Errorf("the download's manifest = %s, want the files and sizes the Hub lists", manifest)
			}
		})
	}
}
