// Package slurm runs Sena sandboxes as batch jobs on a SLURM cluster, with
// nothing of its own on the nodes: it submits a job with sbatch that starts
// Sena's Jupyter launcher on the allocated node, follows it with squeue and
// stops it with scancel. It ships as the plugin binary sena-provider-slurm
// (cmd/sena-provider-slurm) and runs where SLURM's commands do, on a login
// or submit host that shares a filesystem with the nodes (Options.SharedDir).
//
// A sandbox is found again from its job alone: the job's name is
// "sena-SESSION" and its comment carries Sena's labels, so `sena ls`,
// `down --all` and `gc` find every job a state dir started even with the
// state dir lost. README.md says what a cluster admin checks.
package slurm

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/sena-labs/sena/core"
)

// Name is the provider's name, as in `sena --provider slurm`.
const Name = "slurm"

// Version is the provider's version.
const Version = "1.0.0"

// Provider is the SLURM provider. It keeps no state in memory: a sandbox is
// its job (id, name, comment, working directory) and the job's directory on
// the shared filesystem.
type Provider struct {
	log *slog.Logger
	// exe is the program started as a tunnel process (Create with a login
	// host): this binary, which runs the tunnel instead of serving the
	// plugin when ServeTunnel finds it was asked to (see tunnel.go).
	exe string
	// poll is the first interval between squeue calls while a job starts;
	// it grows to maxPoll so that a long queue costs the controller little.
	poll, maxPoll time.Duration
}

// New is the provider's core.Factory.
func New(logger *slog.Logger) (core.Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &Provider{log: logger, exe: exe, poll: 500 * time.Millisecond, maxPoll: 10 * time.Second}, nil
}

var capabilities = core.Capabilities{
	Fields: []core.Field{
		core.FieldFiles, core.FieldCPUs, core.FieldMemory, core.FieldTimeout,
		core.FieldIdleTimeout, core.FieldModels,
	},
	// Which GPUs a cluster has is the cluster's to say: every kind Sena
	// knows is offered here, and Create asks the cluster (sinfo) before it
	// submits anything, refusing a kind or count no node of the partition has.
	GPUKinds:      core.KnownGPUKinds,
	MaxGPUs:       16,
	OptionsSchema: json.RawMessage(optionsSchema),
}

// Info describes the provider. No I/O.
func (p *Provider) Info(context.Context) (*core.ProviderInfo, error) {
	return &core.ProviderInfo{
		Name:         Name,
		Version:      Version,
		Description:  "batch jobs on a SLURM cluster (sbatch, squeue, scancel), reached directly or through an SSH login host",
		Capabilities: capabilities,
	}, nil
}
