// Package docker is Sena's local Docker provider: each sandbox is one
// container, from an image built with images/Dockerfile.jupyter-cuda, running
// jupyter_server published on 127.0.0.1. GPUs come through the NVIDIA
// Container Toolkit as device requests.
//
// The provider keeps no state: a sandbox is its container, found again by id
// (the Handle) or by its sena.* labels (List), so `sena ls`, `sena down --all`
// and `sena gc` work even when Sena's state directory is lost.
//
// GPUs are allocated, not counted: Create lists the engine host's GPUs (by
// running nvidia-smi in a container given all of them), picks free ones
// under a host-wide lock, asks for them by UUID and records them in the
// sena.gpus label, which is how later sessions know they are taken.
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
)

// Name is the provider's registry name.
const Name = "docker"

// version is reported by Info.
const version = "0.2.0"

// DefaultTimeout bounds a sandbox whose spec sets no timeout, so a forgotten
// GPU container stops by itself.
const DefaultTimeout = 24 * time.Hour

// maxGPUs is the most GPUs one host (and so one sandbox) has on common servers.
const maxGPUs = 8

// Provider runs sandboxes as local Docker containers. It is safe for
// concurrent use.
type Provider struct {
	docker  *client.Client
	engine  endpoint
	log     *slog.Logger
	timeout time.Duration // the base of every engine call's timeout
	gpus    gpuBackend
	// image is how the default image is built when it is missing.
	image defaultImage
}

var _ core.Provider = (*Provider)(nil)

// New returns a Docker provider for the engine the docker CLI would use:
// DOCKER_HOST, else the Docker context (DOCKER_CONTEXT, or the one `docker
// context use` chose, in DOCKER_CONFIG), else the local socket. It
// negotiates the API version, so older engines (Debian's 20.10, API 1.41)
// work. It does not contact the daemon.
func New(logger *slog.Logger) (core.Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ep, err := resolveEndpoint(os.Getenv)
	if err != nil {
		return nil, err
	}
	timeout, err := baseTimeout(os.Getenv)
	if err != nil {
		return nil, err
	}
	opts, err := ep.clientOptions()
	if err != nil {
		return nil, err
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "docker client settings for %s: %v", ep.where(), err)
	}
	if ep.Host == "" {
		ep.Host = c.DaemonHost()
	}
	p := &Provider{docker: c, engine: ep, log: logger, timeout: timeout, image: defaultImageRecipe()}
	p.gpus = engineGPUs{p}
	return p, nil
}

// Info describes the provider. The GPU kinds are every kind Sena knows:
// which ones the host has is found at Create, by asking the engine.
func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{
		Name:         Name,
		Version:      version,
		Description:  fmt.Sprintf("local Docker containers (engine at %s); GPUs through the NVIDIA Container Toolkit", p.engine.where()),
		Capabilities: capabilities,
	}, nil
}

// capabilities are what Create honours.
var capabilities = core.Capabilities{
	Fields: []core.Field{
		core.FieldPythonPackages, core.FieldSystemPackages, core.FieldCPUs, core.FieldMemory,
		core.FieldTimeout, core.FieldIdleTimeout, core.FieldImage, core.FieldMounts, core.FieldFiles,
	},
	GPUKinds:      core.KnownGPUKinds,
	MaxGPUs:       maxGPUs,
	OptionsSchema: optionsSchema,
}
