package plugin

import (
	"errors"
	"testing"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// A plugin built before declared fields (contract 0) is read as declaring
// only what its old capabilities said, so what it may ignore is refused.
func TestLegacyPluginDeclaresOnlyWhatItSaid(t *testing.T) {
	info := infoFromProto(&pb.GetInfoResponse{Name: "old", Version: "0.1", Capabilities: &pb.Capabilities{
		Images: true, PythonPath: true, GpuKinds: []string{"T4"}, MaxGpus: 1,
	}})
	c := info.Capabilities
	if !c.Honours(core.FieldImage) || !c.Honours(core.FieldFiles) || c.Honours(core.FieldMounts) {
		t.Errorf("legacy fields %v: want image and files only", c.Fields)
	}
	spec := &core.SandboxSpec{Image: "x", PythonPackages: []string{"numpy"}}
	if err := c.CheckSpec("old", spec); !errors.Is(err, core.ErrUnsupported) {
		t.Errorf("packages on a legacy plugin: %v, want refused", err)
	}
	if _, err := c.ValidateOptions("old", map[string]any{"python": "/usr/bin/python3"}); err != nil {
		t.Errorf("a legacy plugin with python_path takes the python option: %v", err)
	}
	// The interpreter reaches such a plugin in the old field.
	if got := specToProto(&core.SandboxSpec{Options: []byte(`{"python":"/p"}`)}).GetPython(); got != "/p" {
		t.Errorf("legacy python field = %q", got)
	}
}

// A current plugin's declaration crosses the wire as it was made.
func TestInfoRoundTripKeepsFieldsAndSchema(t *testing.T) {
	in := &core.ProviderInfo{Name: "n", Version: "1", Capabilities: core.Capabilities{
		Fields: []core.Field{core.FieldTimeout, core.FieldPythonPackages}, OptionsSchema: []byte(`{"type":"object"}`),
	}}
	out := infoFromProto(infoToProto(in))
	if got := core.FieldNames(out.Capabilities.Fields); len(got) != 2 || got[0] != "python_packages" || got[1] != "timeout" {
		t.Errorf("fields %v", got)
	}
	if string(out.Capabilities.OptionsSchema) != `{"type":"object"}` {
		t.Errorf("schema %s", out.Capabilities.OptionsSchema)
	}
}
