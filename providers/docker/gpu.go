package docker

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/sena-labs/sena/core"
)

// nvidiaRuntime is the runtime the NVIDIA Container Toolkit registers.
const nvidiaRuntime = "nvidia"

// checkNvidiaRuntime fails with ErrUnsupported unless the engine has the
// NVIDIA runtime, so a GPU request never silently runs on the CPU.
func (p *Provider) checkNvidiaRuntime(ctx context.Context, g core.GPU) error {
	info, err := p.docker.Info(ctx)
	if err != nil {
		return p.wrap("docker info", err)
	}
	if _, ok := info.Runtimes[nvidiaRuntime]; !ok {
		return core.Errorf(core.ErrUnsupported,
			"--gpu %s: the Docker engine at %s has no nvidia runtime, so it cannot give containers GPUs; install the NVIDIA driver and the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), run `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`, or drop --gpu to run on the CPU",
			g, p.docker.DaemonHost())
	}
	return nil
}

// deviceRequests asks the engine for g.Count NVIDIA GPUs. "compute" and
// "utility" are requested explicitly so that images without the CUDA base's
// NVIDIA_DRIVER_CAPABILITIES still get CUDA and nvidia-smi.
func deviceRequests(g core.GPU) []container.DeviceRequest {
	if g.Kind == "" {
		return nil
	}
	n := max(g.Count, 1)
	return []container.DeviceRequest{{
		Driver:       nvidiaRuntime,
		Count:        n,
		Capabilities: [][]string{{"gpu", "compute", "utility"}},
	}}
}

// checkGPUKind runs nvidia-smi in the started container and fails unless it
// sees at least g.Count GPUs of kind g.Kind. The engine can only count GPUs,
// not tell their kind, so this is the one place the kind is checked. Without
// nvidia-smi in the container the check is skipped with a warning.
func (p *Provider) checkGPUKind(ctx context.Context, id string, g core.GPU) error {
	out, err := p.execOutput(ctx, id, "nvidia-smi", "--query-gpu=name", "--format=csv,noheader")
	if err != nil {
		p.log.WarnContext(ctx, "cannot check the GPU kind: nvidia-smi did not run in the container", "gpu", g.String(), "err", err)
		return nil
	}
	names := nonEmptyLines(out)
	matched := 0
	for _, name := range names {
		if gpuNameMatches(name, g.Kind) {
			matched++
		}
	}
	if matched < max(g.Count, 1) {
		return core.Errorf(core.ErrUnsupported,
			"--gpu %s: this host's GPUs are [%s]; ask for a kind and count it has", g, strings.Join(names, ", "))
	}
	return nil
}

// gpuNameMatches reports whether an nvidia-smi GPU name ("NVIDIA A100-SXM4-80GB",
// "Tesla T4") is of kind ("A100-80GB", "T4"): every dash-separated part of the
// kind must be a whole word of the name, so L4 does not match L40S.
func gpuNameMatches(name, kind string) bool {
	words := strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == ' ' || r == '-' })
	for _, part := range strings.Split(strings.ToUpper(kind), "-") {
		found := false
		for _, w := range words {
			if w == part {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// execOutput runs cmd in the container and returns its stdout; a non-zero
// exit is an error carrying stderr.
func (p *Provider) execOutput(ctx context.Context, id string, cmd ...string) (string, error) {
	ex, err := p.docker.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", p.wrap("exec "+cmd[0], err)
	}
	att, err := p.docker.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", p.wrap("exec "+cmd[0], err)
	}
	defer att.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		return "", fmt.Errorf("exec %s: read output: %w", cmd[0], err)
	}
	res, err := p.docker.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return "", p.wrap("exec "+cmd[0], err)
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("%s exited with status %d: %s", cmd[0], res.ExitCode, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
