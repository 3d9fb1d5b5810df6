package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
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

// Capabilities declare what a provider does with a request. Core refuses,
// before anything is created, a request that sets a SandboxSpec field the
// provider does not declare (CheckSpec), and provider options that its
// OptionsSchema does not accept (ValidateOptions).
type Capabilities struct {
	// Fields are the SandboxSpec fields the provider honours, checked inside
	// the sandbox by the conformance suite. Env is always honoured.
	Fields []Field `json:"fields"`
	// GPUKinds are the GPU kinds the provider can attach ("T4", "A100", "H100").
	// Empty means CPU only.
	GPUKinds []string `json:"gpu_kinds"`
	// MaxGPUs is the most GPUs one sandbox may have (0: no GPUs).
	MaxGPUs int `json:"max_gpus"`
	// SharesHostFS is true when the sandbox sees the host's files at the same
	// paths (the local provider), so no mount is needed to reach them.
	SharesHostFS bool `json:"shares_host_fs"`
	// SecretStore is true when the backend has named secrets of its own
	// (Modal): a config secret unset on the host is then looked up there.
	SecretStore bool `json:"secret_store"`
	// OptionsSchema is a JSON Schema (type object, with properties) of the
	// provider's own options; empty when it takes none.
	OptionsSchema json.RawMessage `json:"options_schema,omitempty"`
}

// Field names a SandboxSpec field a provider may honour. The names are the
// configuration keys that fill them.
type Field string

// The SandboxSpec fields a provider declares.
const (
	FieldPythonPackages Field = "python_packages" // installed into the sandbox's environment
	FieldSystemPackages Field = "system_packages" // installed into the sandbox's image
	FieldCPUs           Field = "cpus"            // enforced, visible in the sandbox
	FieldMemory         Field = "memory_mib"      // enforced, visible in the sandbox
	FieldTimeout        Field = "timeout"         // the sandbox stops after it, sena running or not
	FieldIdleTimeout    Field = "idle_timeout"    // the sandbox stops after that long without kernel activity
	FieldImage          Field = "image"           // the sandbox runs this container image
	FieldMounts         Field = "mounts"          // host paths visible at their targets
	FieldFiles          Field = "files"           // written under the Jupyter root before it starts
	FieldModels         Field = "models"          // the provider fetches models on its side
)

// AllFields lists every Field, in the order `sena providers` shows them.
var AllFields = []Field{
	FieldPythonPackages, FieldSystemPackages, FieldCPUs, FieldMemory, FieldTimeout,
	FieldIdleTimeout, FieldImage, FieldMounts, FieldFiles, FieldModels,
}

// Honours reports whether the provider declares f.
func (c Capabilities) Honours(f Field) bool { return slices.Contains(c.Fields, f) }

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
	// it through the environment (JUPYTER_TOKEN) or, where the environment is
	// inspectable (containers), a file named by JUPYTER_TOKEN_FILE; never on a
	// command line, and they never store or log it.
	JupyterToken string
	// WorkDir is a host directory reserved for this sandbox: it exists, is
	// empty and is private to the user (0700) when Create is called
	// (PrepareWorkDir makes it so). Providers that run on the host use it as
	// the Jupyter root; others may ignore it. The caller removes it.
	WorkDir string
	// Progress, if set, is told how long steps go (building an environment
	// or image, fetching weights). Calls may come from several goroutines.
	Progress func(Progress)
}

// SandboxSpec is the provider-facing part of a SandboxConfig: what to run,
// with secrets already resolved into Env. A field tagged `field` may be set
// only when the provider declares that Field; core.CheckSpec enforces it.
type SandboxSpec struct {
	GPU            GPU
	Image          string   `field:"image"`
	PythonPackages []string `field:"python_packages"` // pip requirements
	SystemPackages []string `field:"system_packages"` // Debian packages
	// Env is set in the sandbox (secret values included): never persist it.
	Env map[string]string
	// SecretNames are the keys of Env that hold secrets; providers with a
	// secret store of their own (Modal) may use it for them.
	SecretNames []string
	// Models the sandbox needs, for providers that fetch weights on their
	// side (Modal volumes); for the others core fetches on the host and fills
	// Mounts and Env instead.
	Models []ModelConfig `field:"models"`
	// Mounts are host paths made visible in the sandbox.
	Mounts      []Mount       `field:"mounts"`
	CPUs        float64       `field:"cpus"`
	MemoryMiB   int64         `field:"memory_mib"`
	Timeout     time.Duration `field:"timeout"`      // whole lifetime; 0 = provider default
	IdleTimeout time.Duration `field:"idle_timeout"` // stop after this long without kernel activity; 0 = never
	// Files are written into the sandbox's working directory before Jupyter
	// starts (workspace libraries and skills), keyed by relative path.
	Files map[string][]byte `field:"files"`
	// Options are the provider's own options (JSON, an object), validated
	// against its OptionsSchema; decode them with DecodeOptions.
	Options json.RawMessage
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
	// Image names what the sandbox runs, with its digest where the backend
	// has one ("sena-derived:abc@sha256:..."), for the environment manifest.
	Image string
}

// Handle identifies a sandbox to its provider. Core stores it verbatim.
type Handle struct {
	Provider string `json:"provider"`
	ID       string `json:"id"`
	// Version is the format of State, set by the provider, so that a newer
	// provider can read or clearly refuse a handle an older one wrote.
	Version int `json:"version,omitempty"`
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
	Status Status
	// Reason says why, in the backend's words, when the status alone does
	// not: what a queued sandbox waits for ("Resources"), why a stopped one
	// ended ("time limit reached"). Empty when there is nothing to add.
	Reason   string
	Endpoint Endpoint
	// GPUs are the devices the sandbox holds (UUIDs where the backend has them).
	GPUs []string
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
	Reason string   // as InspectResponse.Reason
	GPUs   []string // as InspectResponse.GPUs
}

// Status is a sandbox's state.
type Status string

// Sandbox states.
const (
	StatusRunning Status = "running"
	StatusStopped Status = "stopped"
	StatusUnknown Status = "unknown"
	// StatusQueued is a sandbox the backend accepted but has not started:
	// a batch job waiting for its resources (Reason says what it waits for).
	StatusQueued Status = "queued"
)
