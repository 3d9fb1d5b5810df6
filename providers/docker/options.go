package docker

import (
	"encoding/json"

	"github.com/sena-labs/sena/core"
)

// options are the Docker provider's own settings (provider_options). Every
// hardening default is on unless an option turns it off; the README and
// docs/configuration.md describe each one.
type options struct {
	// GPUDevices names the exact GPUs to attach: UUIDs (GPU-...), MIG
	// devices (MIG-...) or nvidia-smi indices. They must be free.
	GPUDevices []string `json:"gpu_devices,omitempty"`
	// NoNewPrivileges keeps setuid binaries from raising privileges.
	NoNewPrivileges *bool `json:"no_new_privileges,omitempty"`
	// CapDrop and CapAdd edit the container's Linux capabilities.
	CapDrop []string `json:"cap_drop,omitempty"`
	CapAdd  []string `json:"cap_add,omitempty"`
	// PidsLimit bounds processes and threads; 0 means no limit.
	PidsLimit *int64 `json:"pids_limit,omitempty"`
	// ShmMiB sizes /dev/shm.
	ShmMiB *int64 `json:"shm_mib,omitempty"`
	// Network is "bridge" (the default) or "none": no network beyond the
	// host reaching Jupyter.
	Network string `json:"network,omitempty"`
}

// Hardening defaults.
const (
	defaultPidsLimit = 16384 // threads count too: torch and tokenizers start many
	defaultShmMiB    = 8192  // DataLoader workers and NCCL pass tensors through /dev/shm
)

// defaultCapDrop drops every capability: Jupyter and the kernel need none,
// and the image runs as a non-root user, who has none to use anyway.
var defaultCapDrop = []string{"ALL"}

// optionsSchema is the JSON Schema of options, as Info declares it.
var optionsSchema = json.RawMessage(`{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "gpu_devices": {"type": "array", "items": {"type": "string", "minLength": 1},
      "description": "exact GPUs to attach, by UUID (GPU-...), MIG device (MIG-...) or nvidia-smi index; they must be free. With --gpu, the kind must match and the count is the number of devices"},
    "no_new_privileges": {"type": "boolean", "description": "forbid gaining privileges through setuid binaries (default true)"},
    "cap_drop": {"type": "array", "items": {"type": "string"}, "description": "Linux capabilities to drop (default [ALL]); [] keeps Docker's default set"},
    "cap_add": {"type": "array", "items": {"type": "string"}, "description": "Linux capabilities to add back after cap_drop, as SYS_PTRACE (default none)"},
    "pids_limit": {"type": "integer", "minimum": 0, "description": "most processes and threads in the sandbox (default 16384; 0: no limit)"},
    "shm_mib": {"type": "integer", "minimum": 1, "description": "size of /dev/shm in MiB (default 8192, at most memory_mib when that is set); Docker's 64 MiB breaks PyTorch DataLoader workers and NCCL"},
    "network": {"type": "string", "enum": ["bridge", "none"], "description": "bridge (default): the sandbox reaches the network; none: only the host reaches its Jupyter (needs a local engine)"}
  }
}`)

// decodeOptions reads spec.Options and fills in the defaults.
func decodeOptions(spec *core.SandboxSpec) (*options, error) {
	var o options
	if err := core.DecodeOptions(spec.Options, &o); err != nil {
		return nil, err
	}
	if o.NoNewPrivileges == nil {
		t := true
		o.NoNewPrivileges = &t
	}
	if o.CapDrop == nil {
		o.CapDrop = defaultCapDrop
	}
	if o.PidsLimit == nil {
		n := int64(defaultPidsLimit)
		o.PidsLimit = &n
	}
	if o.ShmMiB == nil {
		n := int64(defaultShmMiB)
		if spec.MemoryMiB > 0 {
			n = min(n, spec.MemoryMiB)
		}
		o.ShmMiB = &n
	}
	switch o.Network {
	case "":
		o.Network = networkBridge
	case networkBridge, networkNone:
	default:
		return nil, core.Errorf(core.ErrInvalidConfig, "provider option network=%q: want bridge or none", o.Network)
	}
	return &o, nil
}

// Values of the network option.
const (
	networkBridge = "bridge"
	networkNone   = "none"
)
