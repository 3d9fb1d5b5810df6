package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sena-labs/sena/core"
)

func TestLayoutWritesFilesAndMountLinks(t *testing.T) {
	dir, src := t.TempDir(), t.TempDir()
	spec := &core.SandboxSpec{
		Files:  map[string][]byte{"lib/helpers.py": []byte("X = 1\n"), "skills/probe/SKILL.md": []byte("# probe\n")},
		Mounts: []core.Mount{{Source: src, Target: "models"}, {Source: src, Target: src}},
	}
	if err := checkLayout(spec); err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(dir, spec); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib/helpers.py")); err != nil || string(b) != "X = 1\n" {
		t.Errorf("lib/helpers.py: %q, %v", b, err)
	}
	if got, err := os.Readlink(filepath.Join(dir, "models")); err != nil || got != src {
		t.Errorf("models -> %q (%v), want %s", got, err, src)
	}
	// A second Create in the same work dir finds its link already there.
	if err := writeLayout(dir, spec); err != nil {
		t.Errorf("rewrite: %v", err)
	}
}

func TestLayoutRefusesEscapes(t *testing.T) {
	src := t.TempDir()
	for name, spec := range map[string]core.SandboxSpec{
		"absolute file":      {Files: map[string][]byte{"/etc/passwd": nil}},
		"dotdot file":        {Files: map[string][]byte{"lib/../../escape.py": nil}},
		"empty file name":    {Files: map[string][]byte{"": nil}},
		"dotdot mount":       {Mounts: []core.Mount{{Source: src, Target: "../models"}}},
		"missing source":     {Mounts: []core.Mount{{Source: filepath.Join(src, "absent"), Target: "m"}}},
		"relative source":    {Mounts: []core.Mount{{Source: "models", Target: "m"}}},
		"elsewhere absolute": {Mounts: []core.Mount{{Source: src, Target: "/models"}}},
	} {
		err := checkLayout(&spec)
		if !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrUnsupported) {
			t.Errorf("%s: error %v, want a config refusal", name, err)
		}
	}
}
