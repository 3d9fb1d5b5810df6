package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sena-labs/sena/core/kernel"
)

// Variable is one name in the kernel's namespace, described without
// printing it. Which fields are set depends on the value: tensors and
// arrays have Shape to Std, modules Class and Parameters, others Summary.
type Variable struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Summary      string   `json:"summary,omitempty"`
	Shape        []int64  `json:"shape,omitempty"`
	Dtype        string   `json:"dtype,omitempty"`
	Device       string   `json:"device,omitempty"`
	Bytes        int64    `json:"bytes,omitempty"`
	Values       []any    `json:"values,omitempty"` // the first few, flattened
	Min          *float64 `json:"min,omitempty"`
	Max          *float64 `json:"max,omitempty"`
	Mean         *float64 `json:"mean,omitempty"`
	Std          *float64 `json:"std,omitempty"`
	Sampled      int64    `json:"sampled,omitempty"` // mean and std come from this many evenly spaced values
	RequiresGrad bool     `json:"requires_grad,omitempty"`
	Class        string   `json:"class,omitempty"`
	Parameters   int64    `json:"parameters,omitempty"`
	Training     *bool    `json:"training,omitempty"`
}

// Variables is the kernel's namespace as ListVariables sees it.
type Variables struct {
	Variables []Variable `json:"variables"`
	Modules   int        `json:"modules"` // imported modules, not listed
	More      int        `json:"more"`    // variables over the limit, not listed
}

// ListVariables describes the kernel's variables (all of them, or only
// name) without adding anything to the notebook or the kernel's history.
func (s *Session) ListVariables(ctx context.Context, name string, limit int) (*Variables, error) {
	var v Variables
	err := s.quiet(ctx, "list_variables", map[string]any{"name": name, "limit": limit}, &v, nil)
	return &v, err
}

// LibraryInfo is one workspace library as agents see it: its docstring
// and its public functions and classes.
type LibraryInfo struct {
	Module  string          `json:"module"`
	Path    string          `json:"path"` // in the work dir
	Doc     string          `json:"doc"`
	Members []LibraryMember `json:"members"`
}

// LibraryMember is a public function (with its signature) or class of a
// library, with its docstring's first line.
type LibraryMember struct {
	Signature string `json:"signature"`
	Doc       string `json:"doc"`
}

// ListLibraries reads the workspace's libraries in the sandbox (lib/),
// without importing them.
func (s *Session) ListLibraries(ctx context.Context) ([]LibraryInfo, error) {
	var out []LibraryInfo
	err := s.quiet(ctx, "list_libraries", map[string]any{"lib": libDir}, &out, nil)
	return out, err
}

// GPUStatus is what the sandbox's GPUs, the kernel's torch and the host's
// memory look like now.
type GPUStatus struct {
	GPUs               []GPU      `json:"gpus"`
	NvidiaSMI          string     `json:"nvidia_smi"` // ok, not found, or why it failed
	CUDAVisibleDevices *string    `json:"cuda_visible_devices"`
	Torch              any        `json:"torch"` // a sentence, or one TorchDevice per device
	Host               HostMemory `json:"host"`
}

// GPU is one GPU as nvidia-smi reports it.
type GPU struct {
	Index          int    `json:"index"`
	UUID           string `json:"uuid"`
	Name           string `json:"name"`
	MemoryUsedMiB  *int64 `json:"memory_used_mib"`
	MemoryTotalMiB *int64 `json:"memory_total_mib"`
	UtilizationPct *int64 `json:"utilization_pct"`
}

// TorchDevice is the kernel's torch's view of one CUDA device.
type TorchDevice struct {
	Index           int    `json:"index"`
	Name            string `json:"name"`
	AllocatedMiB    int64  `json:"allocated_mib"`
	ReservedMiB     int64  `json:"reserved_mib"`
	MaxAllocatedMiB int64  `json:"max_allocated_mib"`
	FreeMiB         *int64 `json:"free_mib"`
	TotalMiB        *int64 `json:"total_mib"`
}

// HostMemory is the sandbox's memory and the kernel process's share of it.
type HostMemory struct {
	TotalMiB     int64  `json:"total_mib"`
	AvailableMiB int64  `json:"available_mib"`
	KernelRSSMiB int64  `json:"kernel_rss_mib"`
	LimitMiB     *int64 `json:"limit_mib"` // the container's memory limit, if any
}

// GPUStatus asks the kernel about the GPUs it can use; torch is looked at
// only if the kernel imported it already (importing it takes seconds).
func (s *Session) GPUStatus(ctx context.Context) (*GPUStatus, error) {
	var g GPUStatus
	err := s.quiet(ctx, "gpu_status", map[string]any{}, &g, nil)
	return &g, err
}

// DescribeModel describes the torch module at variable (a name, or a
// dotted path into it such as model.model.layers.0): its folded module
// tree down to depth levels, parameters, dtypes, devices, config and
// tokenizer facts, and the hook points the toolkit skills use.
func (s *Session) DescribeModel(ctx context.Context, variable, tokenizer string, depth int) (string, error) {
	var out struct{ Text string }
	args := map[string]any{"variable": variable, "tokenizer": tokenizer}
	if depth > 0 {
		args["depth"] = depth
	}
	err := s.quiet(ctx, "describe_model", args, &out, nil)
	return out.Text, err
}

// ErrBusy: the session is running a cell (or another call) and a call that
// does not queue behind it was made.
var ErrBusy = errors.New("session busy")

// busyWait is how long a quiet call waits for a running cell to end.
var busyWait = 5 * time.Second

// quiet runs one kernelside.py helper under the session's lock (so it
// never interleaves with a cell), recording nothing. A cell that is still
// running after busyWait fails it with ErrBusy rather than queue behind it.
func (s *Session) quiet(ctx context.Context, op string, args, out any, onLine func(string)) error {
	lctx, cancel := context.WithTimeout(ctx, busyWait)
	unlock, err := s.store.Lock(lctx, s.ID)
	cancel()
	if err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return fmt.Errorf("%w: session %s is running a cell (or another call) and has been for more than %s: "+
				"call again when it ends, or interrupt_kernel stops it", ErrBusy, s.ID, busyWait)
		}
		return err
	}
	defer unlock()
	s.checkKernel(ctx)
	err = callKernelside(ctx, s.kernel(), op, args, out, onLine)
	if errors.Is(err, kernel.ErrKernelRestarted) {
		// Killed by the helper (an out-of-memory copy) or from outside.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if !s.restarting.Load() {
			s.refresh(rctx)
			_ = setupKernel(rctx, s.kernel(), s.Skills, s.Repos)
		}
		s.setNotice("the kernel restarted during the last call: it is a fresh process and every variable is gone; re-run the cells that set them up")
	}
	if errors.Is(err, kernel.ErrConnection) {
		s.refresh(context.WithoutCancel(ctx))
	}
	return err
}
