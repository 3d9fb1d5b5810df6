package plugin

import (
	"encoding/json"
	"time"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// Conversions between core types and their wire form. Every field of a core
// type has a wire field; convert_test.go fails when core grows one that is
// not carried here.

// Contract is the revision of the provider contract this build speaks:
// declared fields and options (2). Plugins built before it report 0.
const Contract = 2

func infoToProto(i *core.ProviderInfo) *pb.GetInfoResponse {
	c := i.Capabilities
	return &pb.GetInfoResponse{
		Name:        i.Name,
		Version:     i.Version,
		Description: i.Description,
		Contract:    Contract,
		Capabilities: &pb.Capabilities{
			GpuKinds:      c.GPUKinds,
			MaxGpus:       int64(c.MaxGPUs),
			Images:        c.Honours(core.FieldImage),
			HostMounts:    c.Honours(core.FieldMounts),
			SharesHostFs:  c.SharesHostFS,
			SecretStore:   c.SecretStore,
			Fields:        core.FieldNames(c.Fields),
			OptionsSchema: string(c.OptionsSchema),
		},
	}
}

func infoFromProto(r *pb.GetInfoResponse) *core.ProviderInfo {
	c := r.GetCapabilities()
	caps := core.Capabilities{
		GPUKinds:      c.GetGpuKinds(),
		MaxGPUs:       int(c.GetMaxGpus()),
		SharesHostFS:  c.GetSharesHostFs(),
		SecretStore:   c.GetSecretStore(),
		OptionsSchema: json.RawMessage(c.GetOptionsSchema()),
	}
	for _, f := range c.GetFields() {
		caps.Fields = append(caps.Fields, core.Field(f))
	}
	if r.GetContract() < Contract {
		caps = legacyCapabilities(c)
	}
	return &core.ProviderInfo{
		Name:         r.GetName(),
		Version:      r.GetVersion(),
		Description:  r.GetDescription(),
		Capabilities: caps,
	}
}

// legacyCapabilities reads what a plugin built before declared fields says
// of itself. Its old flags name images, mounts and the host interpreter;
// everything else it may have ignored silently, so it is declared as not
// honoured and Sena refuses to ask for it. Files were always part of the
// contract (the v1.0 suite checked them).
func legacyCapabilities(c *pb.Capabilities) core.Capabilities {
	caps := core.Capabilities{
		GPUKinds: c.GetGpuKinds(), MaxGPUs: int(c.GetMaxGpus()),
		SharesHostFS: c.GetSharesHostFs(), SecretStore: c.GetSecretStore(),
		Fields: []core.Field{core.FieldFiles},
	}
	if c.GetImages() {
		caps.Fields = append(caps.Fields, core.FieldImage)
	}
	if c.GetHostMounts() {
		caps.Fields = append(caps.Fields, core.FieldMounts)
	}
	if c.GetPythonPath() {
		caps.OptionsSchema = json.RawMessage(`{"type":"object","properties":{"python":{"type":"string"}}}`)
	}
	return caps
}

// createRequestToProto leaves out Progress, which is a callback on the host;
// want_progress tells the plugin whether anyone listens.
func createRequestToProto(r *core.CreateRequest) *pb.CreateRequest {
	return &pb.CreateRequest{
		SessionId:    r.SessionID,
		Labels:       r.Labels,
		Spec:         specToProto(&r.Spec),
		JupyterToken: r.JupyterToken,
		WorkDir:      r.WorkDir,
		WantProgress: r.Progress != nil,
	}
}

func createRequestFromProto(r *pb.CreateRequest) *core.CreateRequest {
	return &core.CreateRequest{
		SessionID:    r.GetSessionId(),
		Labels:       r.GetLabels(),
		Spec:         specFromProto(r.GetSpec()),
		JupyterToken: r.GetJupyterToken(),
		WorkDir:      r.GetWorkDir(),
	}
}

func progressToProto(p core.Progress) *pb.Progress {
	return &pb.Progress{Message: p.Message, Step: p.Step, Done: p.Done, Total: p.Total, Unit: p.Unit, Finished: p.Finished}
}

func progressFromProto(p *pb.Progress) core.Progress {
	return core.Progress{
		Message: p.GetMessage(), Step: p.GetStep(), Done: p.GetDone(), Total: p.GetTotal(),
		Unit: p.GetUnit(), Finished: p.GetFinished(),
	}
}

func specToProto(s *core.SandboxSpec) *pb.SandboxSpec {
	out := &pb.SandboxSpec{
		Gpu:              &pb.GPU{Kind: s.GPU.Kind, Count: int64(s.GPU.Count)},
		Image:            s.Image,
		Python:           legacyPython(s.Options),
		PythonPackages:   s.PythonPackages,
		SystemPackages:   s.SystemPackages,
		Env:              s.Env,
		SecretNames:      s.SecretNames,
		Cpus:             s.CPUs,
		MemoryMib:        s.MemoryMiB,
		TimeoutNanos:     int64(s.Timeout),
		IdleTimeoutNanos: int64(s.IdleTimeout),
		Files:            s.Files,
		Options:          s.Options,
	}
	for _, m := range s.Models {
		out.Models = append(out.Models, &pb.Model{Name: m.Name, Revision: m.Revision, EnvVar: m.EnvVar})
	}
	for _, m := range s.Mounts {
		out.Mounts = append(out.Mounts, &pb.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return out
}

func specFromProto(s *pb.SandboxSpec) core.SandboxSpec {
	out := core.SandboxSpec{
		GPU:            core.GPU{Kind: s.GetGpu().GetKind(), Count: int(s.GetGpu().GetCount())},
		Image:          s.GetImage(),
		PythonPackages: s.GetPythonPackages(),
		SystemPackages: s.GetSystemPackages(),
		Env:            s.GetEnv(),
		SecretNames:    s.GetSecretNames(),
		CPUs:           s.GetCpus(),
		MemoryMiB:      s.GetMemoryMib(),
		Timeout:        time.Duration(s.GetTimeoutNanos()),
		IdleTimeout:    time.Duration(s.GetIdleTimeoutNanos()),
		Files:          s.GetFiles(),
		Options:        s.GetOptions(),
	}
	for _, m := range s.GetModels() {
		out.Models = append(out.Models, core.ModelConfig{Name: m.GetName(), Revision: m.GetRevision(), EnvVar: m.GetEnvVar()})
	}
	for _, m := range s.GetMounts() {
		out.Mounts = append(out.Mounts, core.Mount{Source: m.GetSource(), Target: m.GetTarget(), ReadOnly: m.GetReadOnly()})
	}
	return out
}

func handleToProto(h core.Handle) *pb.Handle {
	return &pb.Handle{Provider: h.Provider, Id: h.ID, State: h.State, Version: int32(h.Version)}
}

func handleFromProto(h *pb.Handle) core.Handle {
	return core.Handle{Provider: h.GetProvider(), ID: h.GetId(), State: h.GetState(), Version: int(h.GetVersion())}
}

func endpointToProto(e core.Endpoint) *pb.Endpoint {
	return &pb.Endpoint{Url: e.URL, WorkDir: e.WorkDir}
}

func endpointFromProto(e *pb.Endpoint) core.Endpoint {
	return core.Endpoint{URL: e.GetUrl(), WorkDir: e.GetWorkDir()}
}

func sandboxToProto(s core.SandboxInfo) *pb.SandboxInfo {
	return &pb.SandboxInfo{Handle: handleToProto(s.Handle), Labels: s.Labels, Status: string(s.Status), Reason: s.Reason, Gpus: s.GPUs}
}

func sandboxFromProto(s *pb.SandboxInfo) core.SandboxInfo {
	return core.SandboxInfo{Handle: handleFromProto(s.GetHandle()), Labels: s.GetLabels(), Status: core.Status(s.GetStatus()), Reason: s.GetReason(), GPUs: s.GetGpus()}
}

// legacyPython is the interpreter option as the v1.0 spec carried it, for
// plugins built before options.
func legacyPython(opts json.RawMessage) string {
	var o struct {
		Python string `json:"python"`
	}
	_ = json.Unmarshal(opts, &o)
	return o.Python
}
