// Package fakeprovider is a core.Provider for the plugin package's tests:
// its methods are func fields, and Scripted fills them with behaviour that
// the test plugin binaries and the tests both know.
package fakeprovider

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// Provider calls its func fields; a nil field panics, which a test notices.
type Provider struct {
	InfoFunc    func(context.Context) (*core.ProviderInfo, error)
	CreateFunc  func(context.Context, *core.CreateRequest) (*core.CreateResponse, error)
	InspectFunc func(context.Context, *core.InspectRequest) (*core.InspectResponse, error)
	DestroyFunc func(context.Context, *core.DestroyRequest) error
	ListFunc    func(context.Context, *core.ListRequest) (*core.ListResponse, error)
}

var _ core.Provider = (*Provider)(nil)

func (p *Provider) Info(ctx context.Context) (*core.ProviderInfo, error) { return p.InfoFunc(ctx) }
func (p *Provider) Create(ctx context.Context, r *core.CreateRequest) (*core.CreateResponse, error) {
	return p.CreateFunc(ctx, r)
}
func (p *Provider) Inspect(ctx context.Context, r *core.InspectRequest) (*core.InspectResponse, error) {
	return p.InspectFunc(ctx, r)
}
func (p *Provider) Destroy(ctx context.Context, r *core.DestroyRequest) error {
	return p.DestroyFunc(ctx, r)
}
func (p *Provider) List(ctx context.Context, r *core.ListRequest) (*core.ListResponse, error) {
	return p.ListFunc(ctx, r)
}

// Session ids that make Scripted's Create misbehave.
const (
	// SessionHang blocks until the call is cancelled, then writes
	// CancelledFile into the request's WorkDir.
	SessionHang = "hang"
	// SessionPanic panics, which kills a plugin process.
	SessionPanic = "panic"
	// SessionErrorPrefix + a key of Errors returns that error.
	SessionErrorPrefix = "error-"
)

// CancelledFile is written by SessionHang when its context ends.
const CancelledFile = "cancelled"

// EnvDescription, when set in the plugin's environment, becomes Info's
// description: it shows that the host environment reaches the plugin.
const EnvDescription = "SENA_FAKE_DESCRIPTION"

// Errors are the errors Scripted returns, by name; each message is distinct
// so that tests can check it arrives verbatim.
var Errors = map[string]error{
	"not-found":      core.Errorf(core.ErrNotFound, "sandbox sb-1 not found; run sena list to see live sessions"),
	"invalid-config": core.Errorf(core.ErrInvalidConfig, "gpu \"Z9\": unknown GPU kind; known kinds are T4, H100"),
	"unsupported":    core.Errorf(core.ErrUnsupported, "provider fake does not offer GPU kind H100; it offers T4"),
	"unavailable":    core.Errorf(core.ErrUnavailable, "cannot reach the Docker daemon at unix:///var/run/docker.sock: is dockerd running?"),
	"plugin-failed":  core.Errorf(core.ErrPluginFailed, "nested plugin broke"),
	"canceled":       core.Errorf(context.Canceled, "stopped waiting for the image pull"),
	"deadline":       core.Errorf(context.DeadlineExceeded, "jupyter did not answer within 2m0s"),
	"plain":          errors.New("create container: exit status 125: weird \"quoted\" text\nsecond line"),
}

// Sentinels lists every error a provider may wrap that keeps its identity
// across the boundary.
var Sentinels = []error{
	core.ErrNotFound, core.ErrInvalidConfig, core.ErrUnsupported, core.ErrUnavailable,
	core.ErrPluginFailed, context.Canceled, context.DeadlineExceeded,
}

// ProgressReports are what Scripted's Create reports, in this order: notes
// and a measured step, so every field crosses the boundary.
var ProgressReports = []core.Progress{
	core.Note("pulling image"),
	{Step: "image", Message: "Step 1/2 : FROM base", Done: 1, Total: 2, Unit: "steps"},
	{Step: "image", Message: "Step 2/2 : RUN pip install", Done: 2, Total: 2, Unit: "steps", Finished: true},
	core.Note("waiting for jupyter"),
}

// Info is what Scripted's Info returns (Description aside).
func Info() *core.ProviderInfo {
	return &core.ProviderInfo{
		Name:        "fake",
		Version:     "1.2.3",
		Description: "a provider for tests",
		Capabilities: core.Capabilities{
			Fields:        core.AllFields,
			GPUKinds:      []string{"T4", "H100"},
			MaxGPUs:       8,
			SharesHostFS:  true,
			SecretStore:   true,
			OptionsSchema: json.RawMessage(`{"type":"object","properties":{"python":{"type":"string"}}}`),
		},
	}
}

// CreateRequest sets every field of a core.CreateRequest (Progress aside),
// with bytes that are not text and a secret, so a round trip checks them all.
func CreateRequest() *core.CreateRequest {
	return &core.CreateRequest{
		SessionID: "sess-42",
		Labels:    map[string]string{core.LabelManaged: "true", core.LabelSession: "sess-42", "team": "interp"},
		Spec: core.SandboxSpec{
			GPU:            core.GPU{Kind: "H100", Count: 4},
			Image:          "sena/jupyter-cuda:12.4",
			PythonPackages: []string{"torch==2.5.1", "transformers"},
			SystemPackages: []string{"git", "htop"},
			Env:            map[string]string{"HF_TOKEN": "hf_secret_value", "MODEL_GPT2_PATH": "/models/gpt2", "EMPTY": ""},
			SecretNames:    []string{"HF_TOKEN"},
			Models:         []core.ModelConfig{{Name: "google/gemma-2-9b-it", Revision: "main", EnvVar: "MODEL_GOOGLE_GEMMA_2_9B_IT_PATH"}, {Name: "gpt2"}},
			Mounts:         []core.Mount{{Source: "/home/u/.cache/huggingface", Target: "/models", ReadOnly: true}, {Source: "/w", Target: "/workspace"}},
			CPUs:           3.5,
			MemoryMiB:      65536,
			Timeout:        2*time.Hour + 3*time.Nanosecond,
			IdleTimeout:    17 * time.Minute,
			Files: map[string][]byte{
				"lib/probe.py":    []byte("import torch\n"),
				"skills/blob.bin": {0x00, 0xff, 0x10, 0x00, 0x80},
				"skills/SKILL.md": []byte("# Probing\n"),
			},
			Options: json.RawMessage(`{"python":"/usr/bin/python3.12"}`),
		},
		JupyterToken: "tok-0123456789abcdef",
		WorkDir:      "/tmp/sena/sess-42",
	}
}

// CreateResponse is what Scripted's Create returns.
func CreateResponse() *core.CreateResponse {
	return &core.CreateResponse{
		Handle:   core.Handle{Provider: "fake", ID: "sb-1", Version: 3, State: []byte{'{', 0x00, 0xfe, '}'}},
		Endpoint: core.Endpoint{URL: "http://127.0.0.1:41234/", WorkDir: "/workspace"},
		Image:    "sena/jupyter-cuda@sha256:0123",
	}
}

// InspectResponse is what Scripted's Inspect returns for CreateResponse's handle.
func InspectResponse() *core.InspectResponse {
	return &core.InspectResponse{Status: core.StatusQueued, Reason: "Resources", Endpoint: CreateResponse().Endpoint, GPUs: []string{"GPU-1", "GPU-2"}}
}

// ListResponse is what Scripted's List returns.
func ListResponse() *core.ListResponse {
	return &core.ListResponse{Sandboxes: []core.SandboxInfo{
		{Handle: CreateResponse().Handle, Labels: map[string]string{core.LabelSession: "sess-42"}, Status: core.StatusRunning, Reason: "on node n1", GPUs: []string{"GPU-1"}},
		{Handle: core.Handle{Provider: "fake", ID: "sb-2"}, Labels: map[string]string{core.LabelSession: "old"}, Status: core.StatusStopped, Reason: "time limit reached"},
	}}
}

// Scripted returns a Provider with the behaviour described above: Create
// accepts only CreateRequest() (or a trigger session id), Inspect and
// Destroy know only CreateResponse's handle, List returns ListResponse.
func Scripted() *Provider {
	return &Provider{
		InfoFunc: func(context.Context) (*core.ProviderInfo, error) {
			info := Info()
			if d := os.Getenv(EnvDescription); d != "" {
				info.Description = d
			}
			return info, nil
		},
		CreateFunc: scriptedCreate,
		InspectFunc: func(_ context.Context, r *core.InspectRequest) (*core.InspectResponse, error) {
			if !reflect.DeepEqual(r.Handle, CreateResponse().Handle) {
				return nil, Errors["not-found"]
			}
			return InspectResponse(), nil
		},
		DestroyFunc: func(_ context.Context, r *core.DestroyRequest) error {
			if !reflect.DeepEqual(r.Handle, CreateResponse().Handle) {
				return Errors["unavailable"]
			}
			return nil
		},
		ListFunc: func(context.Context, *core.ListRequest) (*core.ListResponse, error) {
			return ListResponse(), nil
		},
	}
}

func scriptedCreate(ctx context.Context, r *core.CreateRequest) (*core.CreateResponse, error) {
	switch {
	case r.SessionID == SessionHang:
		<-ctx.Done()
		if err := os.WriteFile(filepath.Join(r.WorkDir, CancelledFile), nil, 0o600); err != nil {
			return nil, err
		}
		return nil, ctx.Err()
	case r.SessionID == SessionPanic:
		panic("fake provider: boom")
	case strings.HasPrefix(r.SessionID, SessionErrorPrefix):
		return nil, Errors[strings.TrimPrefix(r.SessionID, SessionErrorPrefix)]
	}
	if diff := DiffCreateRequest(r, CreateRequest()); diff != "" {
		return nil, core.Errorf(core.ErrInvalidConfig, "fake provider: request differs from fakeprovider.CreateRequest() in %s", diff)
	}
	for _, m := range ProgressReports {
		if r.Progress != nil {
			r.Progress(m)
		}
	}
	return CreateResponse(), nil
}

// DiffCreateRequest names the fields of got that differ from want (Progress
// aside), or returns "". It names fields only: values may be secrets.
func DiffCreateRequest(got, want *core.CreateRequest) string {
	var diff []string
	g, w := reflect.ValueOf(*got), reflect.ValueOf(*want)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		switch name {
		case "Progress":
		case "Spec":
			gs, ws := g.Field(i), w.Field(i)
			for j := range gs.NumField() {
				if !reflect.DeepEqual(gs.Field(j).Interface(), ws.Field(j).Interface()) {
					diff = append(diff, "Spec."+gs.Type().Field(j).Name)
				}
			}
		default:
			if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
				diff = append(diff, name)
			}
		}
	}
	return strings.Join(diff, ", ")
}
