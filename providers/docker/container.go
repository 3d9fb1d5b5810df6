package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/sena-labs/sena/core"
)

// workDir is the Jupyter root inside the container; Spec.Files land here.
const workDir = "/workspace"

// jupyterPort is Jupyter's port inside the container, as Docker names it.
var jupyterPort = nat.Port(strconv.Itoa(core.JupyterPort) + "/tcp")

// sessionIDPattern is what Docker accepts in a container name.
var sessionIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// containerName is the container's name on the engine: one per session.
func containerName(sessionID string) string { return "sena-" + sessionID }

// Paths inside the container that belong to Sena. /run/sena holds what
// must not be in the container's inspectable config: the Jupyter token
// (read through JUPYTER_TOKEN_FILE) and the secrets, a JSON object that
// Sena's launcher puts in the env of its kernelspec (SENA_KERNEL_ENV_FILE),
// so secrets reach every kernel but not `docker inspect`.
const (
	runDir        = "/run/sena"
	tokenFile     = runDir + "/jupyter-token"
	kernelEnvFile = runDir + "/kernel-env.json"
	labelTimeout  = "sena.timeout"      // the sandbox's lifetime, for the exit reason
	labelIdle     = "sena.idle_timeout" // its idle timeout, likewise
	labelNetwork  = "sena.network"      // "none": the session's own internal network
	exitTimedOut  = 124                 // coreutils timeout: the command ran out of time
	exitKilled    = 137                 // 128+SIGKILL: docker kill, or timeout -k
	envVisibleGPU = "NVIDIA_VISIBLE_DEVICES"
)

// containerSpec is everything ContainerCreate needs for one sandbox, and the
// files copied in before it starts.
type containerSpec struct {
	config *container.Config
	host   *container.HostConfig
	files  map[string]fileEntry // by path relative to /
}

// newContainerSpec turns a validated request into a container: Jupyter under
// `timeout` (so the sandbox stops at its deadline with no sena process
// running), published on 127.0.0.1 only, on a port the engine picks, with
// the hardening of opts.
func newContainerSpec(req *core.CreateRequest, image string, opts *options) *containerSpec {
	spec := &req.Spec
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cmd := []string{
		// -k: jupyter_server gets 30s to stop its kernels, then is killed.
		"timeout", "-k", "30", strconv.Itoa(int(timeout.Seconds())),
		"python3",
	}
	cmd = append(cmd, core.JupyterServerCommand(core.JupyterLaunch{
		IP: "0.0.0.0", Port: core.JupyterPort, RootDir: workDir, IdleTimeout: spec.IdleTimeout,
		// network=none: the host reaches the server at the container's
		// private address, which the Host check would refuse as remote.
		RemoteHost: opts.Network == networkNone,
	})...)

	secret := map[string]bool{}
	for _, k := range spec.SecretNames {
		secret[k] = true
	}
	env := []string{
		"JUPYTER_TOKEN_FILE=" + tokenFile,
		"SENA_KERNEL_ENV_FILE=" + kernelEnvFile,
		// No GPU asked for: none visible, even where nvidia is the default
		// runtime and the image says NVIDIA_VISIBLE_DEVICES=all.
		envVisibleGPU + "=void",
	}
	kernelEnv := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if secret[k] {
			kernelEnv[k] = spec.Env[k]
			continue
		}
		env = append(env, k+"="+spec.Env[k])
	}

	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[core.LabelManaged] = "true"
	labels[core.LabelSession] = req.SessionID
	labels[labelTimeout] = timeout.String()
	if spec.IdleTimeout > 0 {
		labels[labelIdle] = spec.IdleTimeout.String()
	}

	mounts := make([]mount.Mount, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}

	files := map[string]fileEntry{
		tokenFile[1:]:     {data: []byte(req.JupyterToken), mode: 0o644},
		kernelEnvFile[1:]: {data: kernelEnvJSON(kernelEnv), mode: 0o644},
	}
	for name, data := range spec.Files {
		p, _ := filePath(name) // validated
		files[p] = fileEntry{data: data, mode: 0o644}
	}

	initProcess := true // tini reaps kernels' zombies and forwards SIGTERM
	host := &container.HostConfig{
		Init:   &initProcess,
		Mounts: mounts,
		// Host port "" lets the engine pick a free one; it is read back after start.
		PortBindings: nat.PortMap{jupyterPort: {{HostIP: "127.0.0.1", HostPort: ""}}},
		Resources: container.Resources{
			NanoCPUs: int64(spec.CPUs * 1e9),
			Memory:   spec.MemoryMiB << 20,
		},
		CapDrop: opts.CapDrop,
		CapAdd:  opts.CapAdd,
		ShmSize: *opts.ShmMiB << 20,
	}
	if *opts.NoNewPrivileges {
		host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges:true")
	}
	if *opts.PidsLimit > 0 {
		host.Resources.PidsLimit = opts.PidsLimit
	}
	if opts.Network == networkNone {
		labels[labelNetwork] = networkNone
		host.NetworkMode = container.NetworkMode(networkName(req.SessionID))
		host.PortBindings = nil // the host reaches Jupyter at the container's address
	}
	return &containerSpec{
		config: &container.Config{
			Image:        image,
			Entrypoint:   []string{}, // run cmd as given, whatever the image's entrypoint
			Cmd:          cmd,
			Env:          env,
			Labels:       labels,
			WorkingDir:   workDir,
			ExposedPorts: nat.PortSet{jupyterPort: struct{}{}},
		},
		host:  host,
		files: files,
	}
}

// kernelEnvJSON is the kernels' extra environment as the launcher reads it.
func kernelEnvJSON(env map[string]string) []byte {
	data, _ := json.Marshal(env) // strings only: cannot fail
	return data
}

// withGPUs makes the spec hold the GPUs with these UUIDs: the label other
// sessions read, the visible devices, and the backend's device request.
func (cs *containerSpec) withGPUs(backend gpuBackend, uuids []string) {
	cs.config.Labels[LabelGPUs] = strings.Join(uuids, ",")
	// Set here too, not only by the engine's NVIDIA hook: under CDI, or with
	// nvidia as the default runtime, the image's NVIDIA_VISIBLE_DEVICES=all
	// would otherwise expose every GPU.
	for i, kv := range cs.config.Env {
		if strings.HasPrefix(kv, envVisibleGPU+"=") {
			cs.config.Env[i] = envVisibleGPU + "=" + strings.Join(uuids, ",")
		}
	}
	backend.attach(cs.config, cs.host, uuids)
}

// networkName is the internal network of a session run with network=none.
func networkName(sessionID string) string { return "sena-" + sessionID + "-internal" }

// validate rejects a request Docker would refuse or misread, before anything
// is created.
func validate(req *core.CreateRequest) error {
	spec := &req.Spec
	switch {
	case !sessionIDPattern.MatchString(req.SessionID):
		return core.Errorf(core.ErrInvalidConfig, "session id %q cannot name a container: use letters, digits, '_', '.' and '-'", req.SessionID)
	case req.JupyterToken == "":
		return core.Errorf(core.ErrInvalidConfig, "no Jupyter token: the sandbox's Jupyter server must require one")
	case spec.CPUs < 0:
		return core.Errorf(core.ErrInvalidConfig, "cpus %g: must be positive (or 0 for no limit)", spec.CPUs)
	case spec.MemoryMiB < 0:
		return core.Errorf(core.ErrInvalidConfig, "memory %d MiB: must be positive (or 0 for no limit)", spec.MemoryMiB)
	case spec.MemoryMiB > 0 && spec.MemoryMiB < 64:
		return core.Errorf(core.ErrInvalidConfig, "memory %d MiB: Jupyter needs at least 64 MiB (Docker's minimum is 6)", spec.MemoryMiB)
	case spec.Timeout < 0 || spec.IdleTimeout < 0:
		return core.Errorf(core.ErrInvalidConfig, "timeouts must be positive (or 0 for the default)")
	}
	for k := range spec.Env {
		if k == "" || reservedEnv[k] || strings.ContainsAny(k, "=\x00") {
			return core.Errorf(core.ErrInvalidConfig, "environment variable name %q is not allowed", k)
		}
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !path.IsAbs(m.Target) {
			return core.Errorf(core.ErrInvalidConfig, "mount %s:%s: both paths must be absolute", m.Source, m.Target)
		}
	}
	for name := range spec.Files {
		if _, err := filePath(name); err != nil {
			return err
		}
	}
	return checkPackages(spec.SystemPackages, spec.PythonPackages)
}

// reservedEnv are variables the provider sets itself.
var reservedEnv = map[string]bool{
	"JUPYTER_TOKEN": true, "JUPYTER_TOKEN_FILE": true, "SENA_KERNEL_ENV_FILE": true, envVisibleGPU: true,
}

// filePath is where a Spec.Files entry goes, relative to the container's /;
// names that would escape the work dir are rejected.
func filePath(name string) (string, error) {
	clean := path.Clean(filepath.ToSlash(name))
	if name == "" || path.IsAbs(clean) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", core.Errorf(core.ErrInvalidConfig, "workspace file %q: want a relative path inside the workspace", name)
	}
	return path.Join(workDir[1:], clean), nil
}

// hostPort reads the host port the engine bound for Jupyter.
func hostPort(ports nat.PortMap) (string, error) {
	for _, b := range ports[jupyterPort] {
		if b.HostIP == "127.0.0.1" && b.HostPort != "" {
			return b.HostPort, nil
		}
	}
	return "", fmt.Errorf("the engine published no host port for %s", jupyterPort)
}
