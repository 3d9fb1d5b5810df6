// Package docker is Sena's local Docker provider: each sandbox is one
// container, from an image built with images/Dockerfile.jupyter-cuda, running
// jupyter_server published on 127.0.0.1. GPUs come through the NVIDIA
// Container Toolkit as device requests.
//
// The provider keeps no state: a sandbox is its container, found again by id
// (the Handle) or by its sena.* labels (List), so `sena ls`, `sena down --all`
// and `sena gc` work even when Sena's state directory is lost.
//
// Host setup for real GPUs: install the NVIDIA driver and the NVIDIA
// Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker
// && sudo systemctl restart docker`; `docker info` must list the nvidia runtime.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
)

// Name is the provider's registry name.
const Name = "docker"

// version is reported by Info.
const version = "0.1.0"

// DefaultImage is the image used when the spec names none: Dockerfile.jupyter-cuda
// on its CUDA base, built by the user (no image is pulled implicitly):
//
//	docker build -t sena/jupyter-cuda:12.4.1 -f images/Dockerfile.jupyter-cuda images/
const DefaultImage = "sena/jupyter-cuda:12.4.1"

// DefaultTimeout bounds a sandbox whose spec sets no timeout, so a forgotten
// GPU container stops by itself.
const DefaultTimeout = 24 * time.Hour

// maxGPUs is the most GPUs one host (and so one sandbox) has on common servers.
const maxGPUs = 8

// Provider runs sandboxes as local Docker containers. It is safe for
// concurrent use.
type Provider struct {
	docker *client.Client
	log    *slog.Logger
}

var _ core.Provider = (*Provider)(nil)

// New returns a Docker provider configured from the environment (DOCKER_HOST,
// DOCKER_CERT_PATH, ...), negotiating the API version so that older engines
// (Debian's 20.10, API 1.41) work. It does not contact the daemon.
func New(logger *slog.Logger) (core.Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "docker client settings from the environment (DOCKER_HOST, DOCKER_CERT_PATH): %v", err)
	}
	return &Provider{docker: c, log: logger}, nil
}

// Info describes the provider. The GPU kinds are every kind Sena knows: which
// one the host has is checked at Create, inside the container.
func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{
		Name:         Name,
		Version:      version,
		Description:  fmt.Sprintf("local Docker containers (engine at %s); GPUs through the NVIDIA Container Toolkit", p.docker.DaemonHost()),
		Capabilities: capabilities,
	}, nil
}

// capabilities are what Create honours. The GPU kinds are every kind Sena
// knows: which one the host has is checked at Create, inside the container.
var capabilities = core.Capabilities{
	Fields: []core.Field{
		core.FieldPythonPackages, core.FieldSystemPackages, core.FieldCPUs, core.FieldMemory,
		core.FieldTimeout, core.FieldIdleTimeout, core.FieldImage, core.FieldMounts, core.FieldFiles,
	},
	GPUKinds: core.KnownGPUKinds,
	MaxGPUs:  maxGPUs,
}
