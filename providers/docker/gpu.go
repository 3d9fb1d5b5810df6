package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/sena-labs/sena/core"
)

// LabelGPUs lists, comma-separated, the GPU UUIDs a sandbox holds. It is how
// sessions see each other's GPUs: the engine itself only counts them.
const LabelGPUs = "sena.gpus"

// nvidiaDriver is the device driver the engine registers when the NVIDIA
// Container Toolkit is installed (through its runtime hook or CDI).
const nvidiaDriver = "nvidia"

// gpuDevice is one GPU, or one MIG slice of a GPU, on the engine's host.
type gpuDevice struct {
	Index  string // nvidia-smi's: "0", or "0:1" for MIG device 1 of GPU 0
	UUID   string // GPU-... or MIG-...
	Name   string // "NVIDIA H100 80GB HBM3"; a MIG slice has its GPU's name
	MiB    int64  // memory; a MIG slice's own
	Parent string // a MIG slice's GPU UUID; "" for a whole GPU
	MIG    string // a MIG slice's profile, as 3g.40gb
	HasMIG bool   // a whole GPU in MIG mode: only its slices can be used
}

func (d gpuDevice) String() string {
	s := fmt.Sprintf("%s %s (%s", d.Index, d.UUID, d.Name)
	if d.MIG != "" {
		s += " MIG " + d.MIG
	}
	if d.MiB > 0 {
		s += fmt.Sprintf(", %d MiB", d.MiB)
	}
	return s + ")"
}

// gpuBackend is where the provider meets the engine's GPU support: it lists
// the host's GPUs and turns chosen ones into the container's request. The
// engine does this (probeGPUs, deviceRequests); tests put a fixed device list
// here, since the engine they run against has no GPU.
type gpuBackend interface {
	// devices lists the host's GPUs, running image if it must run something.
	devices(ctx context.Context, image string) ([]gpuDevice, error)
	// attach asks for the GPUs with these UUIDs in the container's config.
	attach(cfg *container.Config, host *container.HostConfig, uuids []string)
}

// engineGPUs asks the Docker engine.
type engineGPUs struct{ p *Provider }

// attach sets the device request the engine passes to the NVIDIA Container
// Toolkit. DeviceIDs, never Count: the engine turns a count N into devices
// 0..N-1 (moby daemon/devices_nvidia_linux.go, countToDevices), so two
// sessions would get the same GPUs. Count must stay 0 with DeviceIDs (the
// engine refuses both). The IDs are UUIDs, which the runtime hook
// (NVIDIA_VISIBLE_DEVICES) and CDI (nvidia.com/gpu=UUID) both accept.
// "compute" and "utility" are asked for so images without the CUDA base's
// NVIDIA_DRIVER_CAPABILITIES still get CUDA and nvidia-smi.
func (engineGPUs) attach(_ *container.Config, host *container.HostConfig, uuids []string) {
	host.DeviceRequests = deviceRequests(uuids)
}

func deviceRequests(uuids []string) []container.DeviceRequest {
	if len(uuids) == 0 {
		return nil
	}
	return []container.DeviceRequest{{
		Driver:       nvidiaDriver,
		DeviceIDs:    slices.Clone(uuids),
		Capabilities: [][]string{{"gpu", "compute", "utility"}},
	}}
}

// probeScript lists GPUs in a container given all of them: the toolkit
// mounts nvidia-smi in with the utility capability.
const probeScript = `nvidia-smi --query-gpu=index,uuid,name,memory.total,mig.mode.current --format=csv,noheader,nounits && echo '--- MIG' && nvidia-smi -L`

// devices runs nvidia-smi in a short-lived container of image with every
// GPU. That is also the check that the engine can serve a GPU request at
// all (NVIDIA hook or CDI), whatever runtimes `docker info` lists; its own
// error is translated (gpuStartError).
func (e engineGPUs) devices(ctx context.Context, image string) ([]gpuDevice, error) {
	p := e.p
	cctx, cancel := p.call(ctx, timeoutCreate)
	defer cancel()
	created, err := p.docker.ContainerCreate(cctx,
		&container.Config{Image: image, Entrypoint: []string{"sh", "-c"}, Cmd: []string{probeScript}, User: "0",
			Labels: map[string]string{core.LabelManaged: "probe"}},
		&container.HostConfig{Resources: container.Resources{DeviceRequests: []container.DeviceRequest{{
			Driver: nvidiaDriver, Count: -1, Capabilities: [][]string{{"gpu", "utility"}},
		}}}},
		nil, nil, "")
	if err != nil {
		return nil, p.wrap("create the GPU probe container", err)
	}
	defer func() {
		rctx, rcancel := p.call(context.WithoutCancel(ctx), timeoutQuick)
		defer rcancel()
		_ = p.docker.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
	}()
	sctx, scancel := p.call(ctx, timeoutCreate)
	defer scancel()
	if err := p.docker.ContainerStart(sctx, created.ID, container.StartOptions{}); err != nil {
		return nil, gpuStartError(p.docker.DaemonHost(), err)
	}
	wctx, wcancel := p.call(ctx, timeoutCreate)
	defer wcancel()
	waitC, errC := p.docker.ContainerWait(wctx, created.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		return nil, p.wrap("wait for the GPU probe container", err)
	}
	lctx, lcancel := p.call(ctx, timeoutQuick)
	defer lcancel()
	rc, err := p.docker.ContainerLogs(lctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, p.wrap("read the GPU probe's output", err)
	}
	defer rc.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, rc); err != nil {
		return nil, fmt.Errorf("read the GPU probe's output: %w", err)
	}
	if code != 0 {
		return nil, core.Errorf(core.ErrUnsupported,
			"the engine at %s started a container with GPUs, but nvidia-smi in it failed (status %d): %s; check `nvidia-smi` on the engine's host and the NVIDIA Container Toolkit",
			p.docker.DaemonHost(), code, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return parseGPUs(stdout.String())
}

// gpuStartError translates the engine's refusal of a GPU device request.
func gpuStartError(host string, err error) error {
	msg := err.Error()
	fix := "install the NVIDIA driver and the NVIDIA Container Toolkit on the engine's host (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), restart dockerd, and check that `docker run --rm --gpus all IMAGE nvidia-smi` works; or drop --gpu to run on the CPU"
	switch {
	case strings.Contains(msg, "could not select device driver"):
		return core.Errorf(core.ErrUnsupported, "the Docker engine at %s cannot give containers GPUs (it has no NVIDIA device driver: %v); %s", host, err, fix)
	case containsAnyOf(msg, "nvidia-container-cli", "nvml", "NVML", "driver"):
		return core.Errorf(core.ErrUnsupported, "the Docker engine at %s could not attach GPUs: %v; %s", host, err, fix)
	case containsAnyOf(msg, "unresolvable CDI devices", "CDI device injection failed"):
		return core.Errorf(core.ErrUnsupported, "the Docker engine at %s could not attach GPUs through CDI: %v; regenerate the CDI spec (sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml)", host, err)
	}
	return translate("start a container with GPUs", host, err)
}

// parseGPUs reads probeScript's output: the CSV query, then `nvidia-smi -L`
// for the MIG slices, which the query does not list:
//
//	0, GPU-5c89..., NVIDIA A100-SXM4-40GB, 40960, Enabled
//	--- MIG
//	GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5c89...)
//	  MIG 3g.20gb     Device  0: (UUID: MIG-c738...)
func parseGPUs(out string) ([]gpuDevice, error) {
	query, list, _ := strings.Cut(out, "--- MIG")
	var gpus []gpuDevice
	byIndex := map[string]*gpuDevice{}
	for _, line := range nonEmptyLines(query) {
		f := strings.Split(line, ",")
		if len(f) < 4 {
			return nil, fmt.Errorf("cannot read nvidia-smi output line %q (want INDEX, UUID, NAME, MEMORY)", line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		mib, _ := strconv.ParseInt(f[3], 10, 64) // "[N/A]" on some boards
		d := gpuDevice{Index: f[0], UUID: f[1], Name: f[2], MiB: mib}
		if len(f) > 4 && strings.EqualFold(f[4], "Enabled") {
			d.HasMIG = true
		}
		gpus = append(gpus, d)
	}
	for i := range gpus {
		byIndex[gpus[i].Index] = &gpus[i]
	}
	var parent *gpuDevice
	var migs []gpuDevice
	for _, line := range nonEmptyLines(list) {
		uuid := between(line, "(UUID: ", ")")
		switch {
		case strings.HasPrefix(line, "GPU "):
			idx, _, _ := strings.Cut(strings.TrimPrefix(line, "GPU "), ":")
			parent = byIndex[idx]
		case strings.HasPrefix(line, "MIG ") && parent != nil && uuid != "":
			// "MIG 3g.20gb     Device  0: (UUID: MIG-...)"
			fields := strings.Fields(line)
			dev := ""
			if i := slices.Index(fields, "Device"); i >= 0 && i+1 < len(fields) {
				dev = strings.TrimSuffix(fields[i+1], ":")
			}
			profile := fields[1]
			migs = append(migs, gpuDevice{
				Index: parent.Index + ":" + dev, UUID: uuid, Name: parent.Name,
				MiB: migMiB(profile), Parent: parent.UUID, MIG: profile,
			})
			parent.HasMIG = true
		}
	}
	return append(gpus, migs...), nil
}

// migMiB reads the memory from a MIG profile name (3g.40gb: 40 GiB).
func migMiB(profile string) int64 {
	_, mem, ok := strings.Cut(profile, ".")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.ToLower(mem), "gb"), 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, close)
	if !ok {
		return ""
	}
	return v
}

// holder is a sandbox holding GPUs, read back from its sena.gpus label.
type holder struct {
	Session string
	ID      string
	Created int64
	UUIDs   []string
}

// gpuRequest is what a Create asks for: a kind and count (--gpu), exact
// devices (the gpu_devices option), or both.
type gpuRequest struct {
	GPU     core.GPU
	Devices []string
}

func (r gpuRequest) wanted() bool { return r.GPU.Kind != "" || len(r.Devices) > 0 }

// pickGPUs chooses devices for r among gpus, none of which any holder has.
// A whole GPU is busy when it or one of its MIG slices is held, a slice
// when it or its GPU is. Named devices are taken as named; otherwise whole
// GPUs (not in MIG mode) of the kind, in index order.
func pickGPUs(gpus []gpuDevice, holders []holder, r gpuRequest) ([]gpuDevice, error) {
	heldBy := map[string]string{} // UUID -> session
	for _, h := range holders {
		for _, u := range h.UUIDs {
			heldBy[u] = h.Session
		}
	}
	busy := func(d gpuDevice) string {
		if s, ok := heldBy[d.UUID]; ok {
			return s
		}
		if s, ok := heldBy[d.Parent]; ok && d.Parent != "" {
			return s
		}
		for _, g := range gpus {
			if g.Parent == d.UUID {
				if s, ok := heldBy[g.UUID]; ok {
					return s
				}
			}
		}
		return ""
	}
	if len(r.Devices) > 0 {
		return pickNamed(gpus, r, busy)
	}
	count := max(r.GPU.Count, 1)
	var free, ofKind []gpuDevice
	for _, g := range gpus {
		if g.Parent != "" || g.HasMIG || !gpuNameMatches(g.Name, r.GPU.Kind) {
			continue
		}
		ofKind = append(ofKind, g)
		if busy(g) == "" {
			free = append(free, g)
		}
	}
	if len(free) >= count {
		return free[:count], nil
	}
	if len(ofKind) == 0 {
		return nil, core.Errorf(core.ErrUnsupported, "--gpu %s: this host has no %s GPU (MIG-mode GPUs are offered only through gpu_devices); its GPUs: %s",
			r.GPU, r.GPU.Kind, describeGPUs(gpus))
	}
	if len(ofKind) < count {
		return nil, core.Errorf(core.ErrUnsupported, "--gpu %s: this host has %d %s GPU(s); its GPUs: %s", r.GPU, len(ofKind), r.GPU.Kind, describeGPUs(gpus))
	}
	var inUse []string
	for _, g := range ofKind {
		if s := busy(g); s != "" {
			inUse = append(inUse, fmt.Sprintf("GPU %s (%s) by session %s", g.Index, g.UUID, s))
		}
	}
	return nil, core.Errorf(core.ErrUnavailable, "--gpu %s: %d of this host's %d %s GPUs are free, %d asked for; in use: %s (stop one with `sena down SESSION`)",
		r.GPU, len(free), len(ofKind), r.GPU.Kind, count, strings.Join(inUse, "; "))
}

// pickNamed takes the devices the gpu_devices option names.
func pickNamed(gpus []gpuDevice, r gpuRequest, busy func(gpuDevice) string) ([]gpuDevice, error) {
	if r.GPU.Count > 1 && r.GPU.Count != len(r.Devices) {
		return nil, core.Errorf(core.ErrInvalidConfig, "--gpu %s with %d gpu_devices: the count must be the number of devices", r.GPU, len(r.Devices))
	}
	var picked []gpuDevice
	var inUse []string
	for _, name := range r.Devices {
		i := slices.IndexFunc(gpus, func(g gpuDevice) bool { return g.UUID == name || g.Index == name })
		if i < 0 {
			return nil, core.Errorf(core.ErrInvalidConfig, "gpu_devices: this host has no GPU %q; its GPUs: %s", name, describeGPUs(gpus))
		}
		g := gpus[i]
		if slices.ContainsFunc(picked, func(p gpuDevice) bool { return p.UUID == g.UUID }) {
			return nil, core.Errorf(core.ErrInvalidConfig, "gpu_devices: %s is named twice", name)
		}
		if r.GPU.Kind != "" && !gpuNameMatches(g.Name, r.GPU.Kind) {
			return nil, core.Errorf(core.ErrInvalidConfig, "gpu_devices: %s is a %s, not a %s", name, g.Name, r.GPU.Kind)
		}
		if g.HasMIG {
			return nil, core.Errorf(core.ErrInvalidConfig, "gpu_devices: GPU %s is in MIG mode: name one of its MIG devices (`nvidia-smi -L` lists them)", name)
		}
		if s := busy(g); s != "" {
			inUse = append(inUse, fmt.Sprintf("%s (%s) by session %s", name, g.UUID, s))
		}
		picked = append(picked, g)
	}
	if len(inUse) > 0 {
		return nil, core.Errorf(core.ErrUnavailable, "gpu_devices: in use: %s (stop it with `sena down SESSION`, or name free devices)", strings.Join(inUse, "; "))
	}
	return picked, nil
}

func describeGPUs(gpus []gpuDevice) string {
	if len(gpus) == 0 {
		return "none"
	}
	var s []string
	for _, g := range gpus {
		s = append(s, g.String())
	}
	return strings.Join(s, "; ")
}

func uuidsOf(ds []gpuDevice) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.UUID)
	}
	return out
}

// gpuNameMatches reports whether an nvidia-smi GPU name ("NVIDIA A100-SXM4-80GB",
// "Tesla T4") is of kind ("A100-80GB", "T4"): every dash-separated part of the
// kind must be a whole word of the name, so L4 does not match L40S.
func gpuNameMatches(name, kind string) bool {
	words := strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool { return r == ' ' || r == '-' })
	for _, part := range strings.Split(strings.ToUpper(kind), "-") {
		if !slices.Contains(words, part) {
			return false
		}
	}
	return true
}

// errGPUsTaken means another sandbox took an overlapping GPU between this
// Create's choice and its container: choose again.
var errGPUsTaken = errors.New("GPUs taken by a concurrent sandbox")

// execOutput runs cmd in the container and returns its stdout; a non-zero
// exit is an error carrying stderr.
func (p *Provider) execOutput(ctx context.Context, id string, cmd ...string) (string, error) {
	return p.execAs(ctx, id, "", cmd...)
}

// execAs is execOutput as user ("" for the container's).
func (p *Provider) execAs(ctx context.Context, id, user string, cmd ...string) (string, error) {
	ctx, cancel := p.call(ctx, timeoutCreate)
	defer cancel()
	ex, err := p.docker.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true})
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
