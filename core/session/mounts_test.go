package session_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
)

// Where a provider takes files but cannot bind host paths (modal, slurm),
// mounts are uploaded into the work dir; symlinks inside them and
// providers that take neither are refused.
func TestMountsUploaded(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "sub", "a.txt"), []byte("a"), 0o644)
	files := &core.ProviderInfo{Capabilities: core.Capabilities{Fields: []core.Field{core.FieldFiles}}}
	plan, err := session.PlanSandbox(&core.SandboxConfig{Provider: "p", Mounts: []core.MountConfig{{Source: filepath.Join(dir, "data")}}}, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(plan.Spec.Files["mounts/data/sub/a.txt"]) != "a" || len(plan.Spec.Mounts) != 0 {
		t.Errorf("uploaded mount: files %v, mounts %v", plan.Spec.Files, plan.Spec.Mounts)
	}
	_, err = session.PlanSandbox(&core.SandboxConfig{Provider: "p", Mounts: []core.MountConfig{{Source: dir, Target: "/abs"}}}, files, nil)
	if !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "relative target") {
		t.Errorf("an absolute target where mounts are uploaded: %v", err)
	}
	os.Symlink("/etc", filepath.Join(dir, "data", "etc"))
	_, err = session.PlanSandbox(&core.SandboxConfig{Provider: "p", Mounts: []core.MountConfig{{Source: filepath.Join(dir, "data")}}}, files, nil)
	if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("a symlink inside an uploaded mount: %v", err)
	}
	_, err = session.PlanSandbox(&core.SandboxConfig{Provider: "p", Mounts: []core.MountConfig{{Source: dir}}}, &core.ProviderInfo{}, nil)
	if !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("mounts on a provider with neither mounts nor files: %v", err)
	}
}
