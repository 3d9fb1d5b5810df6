package fakemodal

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The checks Modal's clients make (modal's _utils/name_utils.py,
// mount_utils.py and sandbox.py; libmodal's name_utils.go and secret.go)
// and the service enforces, answered as InvalidArgument.

var (
	objectName = regexp.MustCompile(`^[a-zA-Z0-9\-_.]+$`)
	appIDLike  = regexp.MustCompile(`^ap-[a-zA-Z0-9]{22}$`)
	tagText    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,63}$`)
	envKey     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// argMaxBytes is the most a sandbox's entrypoint arguments may total
// (ARG_MAX_BYTES in modal's sandbox.py).
const argMaxBytes = 1 << 16

// maxTimeoutSecs is the longest a sandbox may live (24 h).
const maxTimeoutSecs = 24 * 60 * 60

// gpuLimits are the GPU types Modal documents (https://modal.com/docs/guide/gpu)
// and the most of each one container may have.
var gpuLimits = map[string]uint32{
	"T4": 8, "L4": 8, "A10": 4, "A10G": 4, "L40S": 8, "A100": 8, "A100-40GB": 8, "A100-80GB": 8,
	"RTX-PRO-6000": 8, "H100": 8, "H100!": 8, "H200": 8, "B200": 8, "B200+": 8,
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkObjectName(name, kind string) error {
	if len(name) > 64 || !objectName.MatchString(name) || appIDLike.MatchString(name) {
		return invalid("Invalid %s name: '%s'.\n\nNames may contain only alphanumeric characters, dashes, periods, and underscores, must be shorter than 64 characters, and cannot conflict with App ID strings.", kind, name)
	}
	return nil
}

func checkTags(tags []*pb.SandboxTag) error {
	const rules = "\n\nTags may contain only alphanumeric characters, dashes, periods, or underscores, and must be 63 characters or less."
	for _, t := range tags {
		if !tagText.MatchString(t.GetTagName()) {
			return invalid("Invalid tag key: %q.%s", t.GetTagName(), rules)
		}
		if !tagText.MatchString(t.GetTagValue()) {
			return invalid("Invalid tag value: %q.%s", t.GetTagValue(), rules)
		}
	}
	return nil
}

func checkEnvKeys(env map[string]string) error {
	for k := range env {
		if !envKey.MatchString(k) {
			return invalid("Secret key name %q is invalid for environment variables. Only letters, numbers, and underscores are allowed.", k)
		}
	}
	return nil
}

// checkDefinition checks a sandbox definition as Modal does; ids it names
// are checked by the caller, which knows what exists.
func checkDefinition(def *pb.Sandbox) error {
	if name := def.GetName(); name != "" {
		if err := checkObjectName(name, "Sandbox"); err != nil {
			return err
		}
	}
	total := 0
	for _, a := range def.GetEntrypointArgs() {
		total += len(a)
	}
	if total > argMaxBytes {
		return invalid("Total length of CMD arguments cannot exceed %d bytes (ARG_MAX). Got %d bytes.", argMaxBytes, total)
	}
	if t := def.GetTimeoutSecs(); t > maxTimeoutSecs {
		return invalid("Sandbox timeout must be at most 24 hours (%d seconds), got %d", maxTimeoutSecs, t)
	}
	if def.HasIdleTimeoutSecs() && (def.GetIdleTimeoutSecs() == 0 || def.GetIdleTimeoutSecs() > maxTimeoutSecs) {
		return invalid("Sandbox idle timeout must be between 1 second and 24 hours, got %d", def.GetIdleTimeoutSecs())
	}
	if def.HasWorkdir() && !path.IsAbs(def.GetWorkdir()) {
		return invalid("the Workdir value must be an absolute path, got: %s", def.GetWorkdir())
	}
	seenPath, seenVolume := map[string]bool{}, map[string]string{}
	for _, m := range def.GetVolumeMounts() {
		p := m.GetMountPath()
		switch {
		case p != path.Clean(p) || !path.IsAbs(p):
			return invalid("Volume %s must be a canonical, absolute path.", p)
		case p == "/":
			return invalid("Volume %s cannot be mounted into root directory.", p)
		case p == "/root" || p == "/tmp":
			return invalid("Volume %s cannot be mounted at '%s'.", p, p)
		case seenPath[p]:
			return invalid("Volume mount path %s is used twice", p)
		}
		if other, dup := seenVolume[m.GetVolumeId()]; dup {
			return invalid("The same Volume cannot be mounted in multiple locations for the same function: %s, %s", other, p)
		}
		seenPath[p], seenVolume[m.GetVolumeId()] = true, p
	}
	r := def.GetResources()
	if g := r.GetGpuConfig(); g.GetGpuType() != "" || g.GetCount() > 0 {
		limit, ok := gpuLimits[g.GetGpuType()]
		switch {
		case !ok:
			return invalid("Invalid GPU type: %q. Valid types are T4, L4, A10, L40S, A100, A100-40GB, A100-80GB, RTX-PRO-6000, H100, H100!, H200, B200, B200+", g.GetGpuType())
		case g.GetCount() < 1 || g.GetCount() > limit:
			return invalid("Invalid GPU count %d for %s: at most %d per container", g.GetCount(), g.GetGpuType(), limit)
		}
	}
	if r.GetMilliCpuMax() > 0 && r.GetMilliCpuMax() < r.GetMilliCpu() {
		return invalid("Cannot specify a CPU limit lower than request: %d < %d", r.GetMilliCpuMax(), r.GetMilliCpu())
	}
	if r.GetMemoryMbMax() > 0 && r.GetMemoryMbMax() < r.GetMemoryMb() {
		return invalid("Cannot specify a memory limit lower than request: %d < %d", r.GetMemoryMbMax(), r.GetMemoryMb())
	}
	for _, p := range def.GetOpenPorts().GetPorts() {
		if p.GetPort() == 0 || p.GetPort() > 65535 {
			return invalid("Invalid port %d", p.GetPort())
		}
	}
	return nil
}

// checkDockerfile checks an image layer: it starts with FROM.
func checkDockerfile(cmds []string) error {
	if len(cmds) == 0 || !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(cmds[0])), "FROM ") {
		return invalid("Dockerfile commands must start with FROM, got %s", fmt.Sprint(cmds))
	}
	return nil
}
