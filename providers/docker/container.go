package docker

import (
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

// containerSpec is everything ContainerCreate needs for one sandbox.
type containerSpec struct {
	config *container.Config
	host   *container.HostConfig
}

// newContainerSpec turns a validated request into a container: Jupyter under
// `timeout` (so the sandbox stops at its deadline with no sena process
// running), published on 127.0.0.1 only, on a port the engine picks.
func newContainerSpec(req *core.CreateRequest, image string) *containerSpec {
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
	})...)

	env := []string{"JUPYTER_TOKEN=" + req.JupyterToken}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}

	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[core.LabelManaged] = "true"
	labels[core.LabelSession] = req.SessionID

	mounts := make([]mount.Mount, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}

	initProcess := true // tini reaps kernels' zombies and forwards SIGTERM
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
		host: &container.HostConfig{
			Init:   &initProcess,
			Mounts: mounts,
			// Host port "" lets the engine pick a free one; it is read back after start.
			PortBindings: nat.PortMap{jupyterPort: {{HostIP: "127.0.0.1", HostPort: ""}}},
			Resources: container.Resources{
				NanoCPUs:       int64(spec.CPUs * 1e9),
				Memory:         spec.MemoryMiB << 20,
				DeviceRequests: deviceRequests(spec.GPU),
			},
		},
	}
}

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
		if k == "" || k == "JUPYTER_TOKEN" || strings.ContainsAny(k, "=\x00") {
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
