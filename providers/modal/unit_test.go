package modal

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/images"
)

func TestVolumeName(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
	gemma := core.ModelConfig{Name: "google/gemma-2-9b-it"}
	long := core.ModelConfig{Name: strings.Repeat("org", 20) + "/" + strings.Repeat("model", 20), Revision: "refs/pr/1"}
	for _, m := range []core.ModelConfig{gemma, long, {Name: "a/b.c"}, {Name: "a/b-c"}} {
		if n := VolumeName(m); !valid.MatchString(n) {
			t.Errorf("VolumeName(%v) = %q: not a valid Modal name", m, n)
		}
	}
	if got := VolumeName(gemma); !strings.HasPrefix(got, "sena-model-google-gemma-2-9b-it-main-") {
		t.Errorf("VolumeName(gemma) = %q", got)
	}
	if VolumeName(gemma) != VolumeName(core.ModelConfig{Name: gemma.Name, Revision: "main"}) {
		t.Error("the default revision and an explicit main name different volumes")
	}
	if VolumeName(gemma) == VolumeName(core.ModelConfig{Name: gemma.Name, Revision: "v2"}) {
		t.Error("two revisions share a volume")
	}
	if VolumeName(core.ModelConfig{Name: "a/b.c"}) == VolumeName(core.ModelConfig{Name: "a/b-c"}) {
		t.Error("models that sanitize alike share a volume")
	}
}

func TestParseDockerfile(t *testing.T) {
	r, err := parseDockerfile(testDockerfile)
	if err != nil {
		t.Fatal(err)
	}
	if r.base != "nvidia/cuda:12.4.1-runtime-ubuntu22.04" || len(r.commands) != 3 || !strings.HasPrefix(r.commands[0], "ENV ") {
		t.Errorf("recipe = %+v", r)
	}
	for _, bad := range []string{"RUN true", "FROM a\nCOPY x /x", "FROM a\nADD x /x", "FROM a\nFROM b", "FROM $UNSET", "# nothing"} {
		if _, err := parseDockerfile(bad); !errors.Is(err, core.ErrInvalidConfig) {
			t.Errorf("parseDockerfile(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

// The shared recipe must stay buildable on Modal.
func TestSharedRecipeParses(t *testing.T) {
	r, err := parseDockerfile(images.JupyterCUDA)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.base, "nvidia/cuda:") {
		t.Errorf("base = %q, want an nvidia/cuda image", r.base)
	}
	if !strings.Contains(strings.Join(r.commands, "\n"), "jupyter_server") {
		t.Errorf("the recipe's commands do not install jupyter_server: %q", r.commands)
	}
}

func TestGPUString(t *testing.T) {
	for in, want := range map[core.GPU]string{
		{}:                            "",
		{Kind: "t4", Count: 1}:        "T4",
		{Kind: "A100-80GB", Count: 4}: "A100-80GB:4",
		{Kind: "H100", Count: 8}:      "H100:8",
	} {
		if got, err := gpuString(in); err != nil || got != want {
			t.Errorf("gpuString(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// One model at two revisions (core names their variables) gets two volumes
// and two mount points; the same revision twice is refused.
func TestPlanModelsTwoRevisions(t *testing.T) {
	ms, err := planModels([]core.ModelConfig{
		{Name: "org/m", EnvVar: "MODEL_ORG_M_PATH"},
		{Name: "org/m", Revision: "v2", EnvVar: "MODEL_ORG_M_V2_PATH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].path == ms[1].path || ms[0].volume == ms[1].volume || ms[1].envVar != "MODEL_ORG_M_V2_PATH" {
		t.Errorf("plans = %+v, want two volumes, paths and variables", ms)
	}
	if _, err := planModels([]core.ModelConfig{{Name: "org/m", EnvVar: "A"}, {Name: "org/m", Revision: "main", EnvVar: "B"}}); !errors.Is(err, core.ErrInvalidConfig) {
		t.Errorf("the same revision twice: %v, want ErrInvalidConfig", err)
	}
}
