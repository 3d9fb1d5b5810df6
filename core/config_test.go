package core

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseGPU(t *testing.T) {
	for in, want := range map[string]GPU{"": {}, "h100": {"H100", 1}, "A100-80GB:4": {"A100-80GB", 4}, "none": {}} {
		got, err := ParseGPU(in)
		if err != nil || got != want {
			t.Errorf("ParseGPU(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"Z80", "H100:0", "H100:x", "H100:-1"} {
		if _, err := ParseGPU(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseGPU(%q): %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestCheckGPU(t *testing.T) {
	caps := Capabilities{GPUKinds: []string{"H100"}, MaxGPUs: 2}
	if err := caps.CheckGPU("p", GPU{"H100", 2}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []GPU{{"A100", 1}, {"H100", 3}} {
		if err := caps.CheckGPU("p", g); !errors.Is(err, ErrUnsupported) {
			t.Errorf("CheckGPU(%v) = %v, want ErrUnsupported", g, err)
		}
	}
}

func TestModelEnvVar(t *testing.T) {
	if got := ModelEnvVar("google/gemma-2-9b-it"); got != "MODEL_GOOGLE_GEMMA_2_9B_IT_PATH" {
		t.Fatalf("got %s", got)
	}
}

func TestLoadConfigRejectsUnknownKeysAndOverlays(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "sena.yaml")
	os.WriteFile(good, []byte("gpu: A100\ntimeout: 2h\nmodels: [{name: org/m}]\nworkspace:\n  libraries: [a.py, {name: b.py, code: 'x = 1'}]\n"), 0o644)
	cfg, err := LoadConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Timeout) != 2*time.Hour || cfg.Workspace.Libraries[1].Code != "x = 1" || cfg.Workspace.Libraries[0].Path != "a.py" {
		t.Fatalf("loaded %+v", cfg)
	}
	cfg.Overlay(&SandboxConfig{GPU: "H100", Models: []ModelConfig{{Name: "org/n"}}, Env: map[string]string{"A": "1"}})
	if cfg.GPU != "H100" || len(cfg.Models) != 2 || cfg.Env["A"] != "1" || time.Duration(cfg.Timeout) != 2*time.Hour {
		t.Fatalf("overlay: %+v", cfg)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("gpus: A100\n"), 0o644)
	if _, err := LoadConfig(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestParseModels(t *testing.T) {
	ms, err := ParseModels([]string{"org/a@v1", "org/b"}, ModelOptions{Hidden: true, Dtype: "bfloat16"})
	if err != nil {
		t.Fatal(err)
	}
	want := ModelConfig{Name: "org/a", Revision: "v1", Hidden: true, Preload: &Preload{Dtype: "bfloat16"}}
	if !reflect.DeepEqual(ms[0], want) {
		t.Fatalf("got %+v", ms[0])
	}
	if _, err := ParseModels([]string{"org/a"}, ModelOptions{Dtype: "float16"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("dtype without preload: %v", err)
	}
	for _, bad := range []string{"noslash", "a/b/c", "/x"} {
		if _, err := ParseModel(bad); err == nil {
			t.Errorf("ParseModel(%q) accepted", bad)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []SandboxConfig{
		{Mode: "repl"}, {GPU: "Z80"}, {Secrets: []string{"not a name"}}, {Env: map[string]string{"1X": "y"}},
		{Models: []ModelConfig{{Name: "org/m", Preload: &Preload{Var: "not-ident"}}}},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}
	if err := (&SandboxConfig{Mode: ModeCLI, GPU: "T4"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
