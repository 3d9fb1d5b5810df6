package core

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseGPU(t *testing.T) {
	for in, want := range map[string]GPU{"": {}, "h100": {"H100", 1}, "A100-80GB:4": {"A100-80GB", 4}, "none": {},
		"rtx-pro-6000": {"RTX-PRO-6000", 1}, "A10:4": {"A10", 4}, "h100!:8": {"H100!", 8}, "B200+": {"B200+", 1}} {
		got, err := ParseGPU(in)
		if err != nil || got != want {
			t.Errorf("ParseGPU(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"Z80", "H100:0", "H100:x", "H100:-1", "H200!", "T4+", "H100!!"} {
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

func TestNormalizeFoldsShorthands(t *testing.T) {
	c := SandboxConfig{
		Python: "/usr/bin/python3", HideModels: true, Dtype: "bfloat16",
		Models: []ModelConfig{{Name: "org/a", Revision: "v1"}, {Name: "org/b", Preload: &Preload{Var: "m2"}}},
	}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	want := ModelConfig{Name: "org/a", Revision: "v1", EnvVar: "MODEL_ORG_A_PATH", Hidden: true, Preload: &Preload{Dtype: "bfloat16"}}
	if !reflect.DeepEqual(c.Models[0], want) || c.Models[1].Preload.Var != "m2" || c.Models[1].Preload.Dtype != "bfloat16" {
		t.Fatalf("models %+v %+v", c.Models[0], c.Models[1].Preload)
	}
	if c.ProviderOptions[OptionPython] != "/usr/bin/python3" || c.Python != "" || c.Provider != "local" || c.Mode != ModeNotebook {
		t.Fatalf("normalised %+v", c)
	}
	if err := c.Normalize(); err != nil { // idempotent
		t.Fatal(err)
	}
	for name, bad := range map[string]SandboxConfig{
		"dtype without preload": {Dtype: "float16", Models: []ModelConfig{{Name: "org/a"}}},
		"python twice":          {Python: "/a", ProviderOptions: map[string]any{"python": "/b"}},
	} {
		if err := bad.Normalize(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// One model at two revisions gets two variables; a collision is an error.
func TestModelVariables(t *testing.T) {
	c := SandboxConfig{Models: []ModelConfig{{Name: "org/name"}, {Name: "org/name", Revision: "v2"}, {Name: "org/other", Revision: "v2"}}}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range c.Models {
		got = append(got, m.EnvVar)
	}
	if want := []string{"MODEL_ORG_NAME_PATH", "MODEL_ORG_NAME_V2_PATH", "MODEL_ORG_OTHER_PATH"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("variables %v, want %v", got, want)
	}
	for name, models := range map[string][]ModelConfig{
		"same name twice":           {{Name: "org/name"}, {Name: "org/name"}},
		"names that sanitise alike": {{Name: "org/a-b"}, {Name: "org/a_b"}},
		"env_var taken":             {{Name: "org/x"}, {Name: "org/y", EnvVar: "MODEL_ORG_X_PATH"}},
		"env_var not a name":        {{Name: "org/x", EnvVar: "1X"}},
	} {
		c := SandboxConfig{Models: models}
		if err := c.Normalize(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	c = SandboxConfig{Models: []ModelConfig{{Name: "org/a"}, {Name: "org/b", EnvVar: "MY_MODEL"}}}
	if err := c.Normalize(); err != nil || c.Models[1].EnvVar != "MY_MODEL" {
		t.Fatalf("explicit env_var: %v %+v", err, c.Models)
	}
}

func TestParseModel(t *testing.T) {
	for _, bad := range []string{"noslash", "a/b/c", "/x", "org/m@../../etc", "org/m@", "org/m@refs//x", "org/m@x.lock", "org/../m"} {
		if _, err := ParseModel(bad); err == nil {
			t.Errorf("ParseModel(%q) accepted", bad)
		}
	}
	for _, good := range []string{"org/m@v2", "org/m@refs/pr/1", "org/m@0123abcd"} {
		if _, err := ParseModel(good); err != nil {
			t.Errorf("ParseModel(%q): %v", good, err)
		}
	}
}

// A model or library may be written as a string or as an object, in YAML
// and in JSON alike.
func TestModelsAndLibrariesTakeBothForms(t *testing.T) {
	cfg, err := ParseConfig("t", []byte("models: [org/a@v1, {name: org/b, hidden: true}]\nworkspace: {libraries: [x.py]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON SandboxConfig
	if err := json.Unmarshal([]byte(`{"models":["org/a@v1",{"name":"org/b","hidden":true}],"workspace":{"libraries":["x.py"]}}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, &fromJSON) || cfg.Models[0].Revision != "v1" || !cfg.Models[1].Hidden || cfg.Workspace.Libraries[0].Path != "x.py" {
		t.Fatalf("yaml %+v json %+v", cfg, fromJSON)
	}
	if err := json.Unmarshal([]byte(`{"models":[{"name":"org/b","hiden":true}]}`), &fromJSON); err == nil {
		t.Fatal("a misspelt model key was accepted")
	}
}

func TestConfigEdgesAreErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":              "",
		"second document":    "gpu: T4\n---\nbogus: 1\n",
		"negative duration":  "timeout: -5s\n",
		"overflowing number": "timeout: 1e300\n",
		"overflowing string": "timeout: 9999999999h\n",
		"unknown key":        "gpus: A100\n",
		"unknown nested key": "workspace: {libs: [a.py]}\n",
	} {
		if _, err := ParseConfig(name, []byte(doc)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if err := (&SandboxConfig{CPUs: math.NaN()}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NaN cpus: %v", err)
	}
	if err := (&SandboxConfig{CPUs: math.Inf(1)}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Inf cpus: %v", err)
	}
	if err := (&SandboxConfig{Env: map[string]string{"JUPYTER_TOKEN": "x"}}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("JUPYTER_TOKEN in env: %v", err)
	}
}

// Explicit settings win over the file, the file over ambient defaults.
func TestFillAmbient(t *testing.T) {
	c := SandboxConfig{}
	c.FillAmbient("docker", "/usr/bin/python3")
	if c.Provider != "docker" || c.Python != "" {
		t.Errorf("python is for the local provider only: %+v", c)
	}
	c = SandboxConfig{Provider: "modal"}
	c.FillAmbient("local", "")
	if c.Provider != "modal" {
		t.Errorf("ambient provider overrode the config: %+v", c)
	}
	c = SandboxConfig{}
	c.FillAmbient("local", "/py")
	if c.Python != "/py" {
		t.Errorf("ambient python not applied: %+v", c)
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
