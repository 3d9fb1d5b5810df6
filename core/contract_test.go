package core

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every field a spec sets must be declared; the error names the setting
// and the provider.
func TestCheckSpecRefusesUndeclaredFields(t *testing.T) {
	lazy := Capabilities{}
	cases := map[string]SandboxSpec{
		"--package":        {PythonPackages: []string{"x"}},
		"--system-package": {SystemPackages: []string{"cowsay"}},
		"--cpus":           {CPUs: 1},
		"--memory":         {MemoryMiB: 64},
		"--timeout":        {Timeout: 30 * time.Second},
		"--idle-timeout":   {IdleTimeout: time.Minute},
		"--image":          {Image: "img"},
		"mounts":           {Mounts: []Mount{{Source: "/a", Target: "/b"}}},
		"--library":        {Files: map[string][]byte{"lib/x.py": nil}},
		"--model":          {Models: []ModelConfig{{Name: "o/m"}}},
	}
	for setting, spec := range cases {
		err := lazy.CheckSpec("mini", &spec)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), setting) || !strings.Contains(err.Error(), "mini") {
			t.Errorf("%s on a provider that declares nothing: %v", setting, err)
		}
		all := Capabilities{Fields: AllFields}
		if err := all.CheckSpec("full", &spec); err != nil {
			t.Errorf("%s on a provider that declares everything: %v", setting, err)
		}
	}
	if err := lazy.CheckSpec("mini", &SandboxSpec{Env: map[string]string{"A": "1"}}); err != nil {
		t.Errorf("env is always honoured: %v", err)
	}
}

// Every tagged SandboxSpec field is a known Field with a fix, so a new one
// cannot slip past CheckSpec unexplained.
func TestEverySpecFieldIsDeclarable(t *testing.T) {
	for f := range fieldFix {
		if !containsField(AllFields, f) {
			t.Errorf("%s has a fix but is not in AllFields", f)
		}
	}
	for _, f := range AllFields {
		if _, ok := fieldFix[f]; !ok {
			t.Errorf("field %s has no fix text", f)
		}
	}
}

func containsField(fs []Field, f Field) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func TestValidateOptions(t *testing.T) {
	caps := Capabilities{OptionsSchema: []byte(`{"type":"object","properties":{
		"python":{"type":"string"},
		"shm_mib":{"type":"integer","minimum":64},
		"network":{"type":"boolean"},
		"groups":{"type":"array","items":{"type":"string"}}}}`)}
	got, err := caps.ValidateOptions("p", map[string]any{"python": "/py", "shm_mib": "2048", "network": "false", "groups": "a,b"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"groups":["a","b"],"network":false,"python":"/py","shm_mib":2048}` {
		t.Errorf("coerced options %s", got)
	}
	for name, opts := range map[string]map[string]any{
		"unknown option": {"pyhton": "/py"},
		"wrong type":     {"shm_mib": "lots"},
		"below minimum":  {"shm_mib": 1},
		"typed wrong":    {"network": []any{1}},
	} {
		_, err := caps.ValidateOptions("p", opts)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if name == "unknown option" && !strings.Contains(err.Error(), "python") {
			t.Errorf("the error should list the options: %v", err)
		}
	}
	if _, err := (Capabilities{}).ValidateOptions("p", map[string]any{"x": 1}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("options for a provider without any: %v", err)
	}
}

func TestPrepareWorkDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := PrepareWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("work dir %v %v", fi, err)
	}
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o600)
	if err := PrepareWorkDir(dir); err == nil {
		t.Fatal("a non-empty work dir was accepted")
	}
}
