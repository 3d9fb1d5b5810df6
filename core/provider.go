package core

import (
	"context"
	"log/slog"
	"time"
)

// Provider creates and destroys sandboxes that run a Jupyter server.
//
// Implementations are safe for concurrent use and keep no state between calls:
// everything needed to find a sandbox again is in the Handle (stored by the
// caller and passed back verbatim, possibly by another process days later) or
// on the backend itself (labels, tags). Every method honours ctx.
//
// Kernel traffic never goes through a Provider: Create returns an Endpoint and
// the one kernel client in core/kernel talks to it.
type Provider interface {
	// Info describes the provider and what it can do. No slow I/O.
	Info(ctx context.Context) (*ProviderInfo, error)
	// Create starts a sandbox and returns once its Jupyter endpoint is known
	// (the caller waits for readiness). On error nothing is left behind.
	Create(ctx context.Context, req *CreateRequest) (*CreateResponse, error)
	// Inspect reports the sandbox's status; ErrNotFound when it is gone.
	Inspect(ctx context.Context, req *InspectRequest) (*InspectResponse, error)
	// Destroy releases everything Create made. Idempotent: a sandbox that is
	// already gone is success.
	Destroy(ctx context.Context, req *DestroyRequest) error
	// List returns the sandboxes this provider manages whose labels include
	// all of req.Labels, so that none is left running that Sena cannot show.
	List(ctx context.Context, req *ListRequest) (*ListResponse, error)
}

// Factory builds a provider. Built-in providers export one; plugin binaries
// pass theirs to plugin.Serve.
type Factory func(logger *slog.Logger) (Provider, error)

// ProviderInfo describes a provider.
type ProviderInfo struct {
	Name         string       `json:"name"`
	Version      string       `json:"version"`
	Description  string       `json:"description,omitempty"`
	Capabilities Capabilities `json:"capabilities"`
}

// Capabilities says what a provider offers; core checks a config against them
// before anything is created.
type Capabilities struct {
	// GPUKinds are the GPU kinds the provider can attach ("T4", "A100", "H100").
	// Empty means CPU only.
	GPUKinds []string `json:"gpu_kinds"`
	// MaxGPUs is the most GPUs one sandbox may have (0: no GPUs).
	MaxGPUs int `json:"max_gpus"`
	// Images is true when the provider runs container images (--image).
	Images bool `json:"images"`
	// PythonPath is true when the provider runs an existing host interpreter (--python).
	PythonPath bool `json:"python_path"`
	// HostMounts is true when host directories (the model cache, the
	// workspace) can be mounted into the sandbox.
	HostMounts bool `json:"host_mounts"`
	// SharesHostFS is true when the sandbox sees the host's files at the same
	// paths (the local provider), so no mount is needed to reach them.
	SharesHostFS bool `json:"shares_host_fs"`
	// SecretStore is true when the backend has named secrets of its own
	// (Modal): a config secret unset on the host is then looked up there.
	SecretStore bool `json:"secret_store"`
}

// Labels Sena puts on every sandbox it creates.
const (
	LabelManaged  = "sena.managed"  // always "true"
	LabelSession  = "sena.session"  // the session id
	LabelStateDir = "sena.statedir" // hash of the state dir that owns the session
)

// CreateRequest asks a provider for a sandbox.
type CreateRequest struct {
	// SessionID names the sandbox on the backend and is also a label.
	SessionID string
	// Labels the provider must attach to the sandbox (they include LabelManaged and LabelSession).
	Labels map[string]string
	// Spec is what to run.
	Spec SandboxSpec
	// JupyterToken is the token the Jupyter server must require. Providers pass
	// it through the environment (JUPYTER_TOKEN), never on a command line, and
	// never store or log it.
	JupyterToken string
	// WorkDir is a host directory reserved for this sandbox. Providers that
	// run on the host use it as the Jupyter root; others may ignore it.
	WorkDir string
	// Progress, if set, receives human-readable progress lines.
	Progress func(msg string)
}

// SandboxSpec is the provider-facing part of a SandboxConfig: what to run,
// with secrets already resolved into Env.
type SandboxSpec struct {
	GPU            GPU
	Image          string   // container providers
	Python         string   // local provider: interpreter to use
	PythonPackages []string // installed into the environment
	SystemPackages []string // container providers
	// Env is set in the sandbox (secret values included): never persist it.
	Env map[string]string
	// SecretNames are the keys of Env that hold secrets; providers with a
	// secret store of their own (Modal) may use it for them.
	SecretNames []string
	// Models the sandbox needs; providers that fetch weights on their side
	// (Modal volumes) use this, host providers get Mounts and Env instead.
	Models []ModelConfig
	// Mounts are host paths made visible in the sandbox.
	Mounts      []Mount
	CPUs        float64
	MemoryMiB   int64
	Timeout     time.Duration // whole lifetime; 0 = provider default
	IdleTimeout time.Duration // stop when Jupyter has been idle this long; 0 = never
	// Files are written into the sandbox's working directory before Jupyter
	// starts (workspace libraries and skills), keyed by relative path.
	Files map[string][]byte
}

// Mount makes a host path visible inside the sandbox.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only"`
}

// CreateResponse is what Create returns.
type CreateResponse struct {
	Handle   Handle
	Endpoint Endpoint
}

// Handle identifies a sandbox to its provider. Core stores it verbatim.
type Handle struct {
	Provider string `json:"provider"`
	ID       string `json:"id"`
	// State is opaque provider data (JSON recommended). Never secrets.
	State []byte `json:"state,omitempty"`
}

// Endpoint is where the sandbox's Jupyter server answers, as seen from the host.
type Endpoint struct {
	// URL is the Jupyter base URL, without token ("http://127.0.0.1:41234/").
	URL string `json:"url"`
	// WorkDir is the Jupyter root directory inside the sandbox (informational).
	WorkDir string `json:"work_dir,omitempty"`
}

// InspectRequest asks for a sandbox's status.
type InspectRequest struct{ Handle Handle }

// InspectResponse reports a sandbox's status.
type InspectResponse struct {
	Status   Status
	Endpoint Endpoint
}

// DestroyRequest asks a provider to stop a sandbox.
type DestroyRequest struct{ Handle Handle }

// ListRequest selects sandboxes by label.
type ListRequest struct{ Labels map[string]string }

// ListResponse lists sandboxes.
type ListResponse struct{ Sandboxes []SandboxInfo }

// SandboxInfo is one sandbox found on the backend.
type SandboxInfo struct {
	Handle Handle
	Labels map[string]string
	Status Status
}

// Status is a sandbox's state.
type Status string

// Sandbox states.
const (
	StatusRunning Status = "running"
	StatusStopped Status = "stopped"
	StatusUnknown Status = "unknown"
)
