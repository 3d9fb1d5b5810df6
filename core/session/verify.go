package session

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
)

// verifyScript reports, from inside the kernel, what the environment is.
//
//go:embed verify.py
var verifyScript string

// Environment is what a session's kernel was found to run in, checked
// against what was asked before the session was handed over: the
// environment manifest. It is in the record, `up --json`, start_session's
// result and the notebook's metadata (metadata.sena), so a notebook says
// what produced it. Hidden models appear by id only.
type Environment struct {
	Sena      string            `json:"sena_version"`
	Provider  string            `json:"provider"`
	Image     string            `json:"image,omitempty"` // the image and digest, where the provider reports them
	Python    PythonInfo        `json:"python"`
	Packages  map[string]string `json:"packages"` // every distribution in the kernel's environment, by canonical name
	Models    []ModelInfo       `json:"models,omitempty"`
	Repos     []Repo            `json:"repos,omitempty"` // what was cloned, at which commit
	GPU       GPUInfo           `json:"gpu"`
	Limits    Limits            `json:"limits"`
	CheckedAt time.Time         `json:"checked_at"`
}

// PythonInfo is the kernel's interpreter.
type PythonInfo struct {
	Executable string `json:"executable"`
	Version    string `json:"version"`
}

// ModelInfo is one model as the kernel found it.
type ModelInfo struct {
	ID       string       `json:"id,omitempty"` // hidden models: this only
	Name     string       `json:"name,omitempty"`
	Revision string       `json:"revision,omitempty"`
	Commit   string       `json:"commit,omitempty"`
	EnvVar   string       `json:"env_var,omitempty"`
	Weights  []WeightFile `json:"weights,omitempty"`
	// Adapter is true for a PEFT adapter, Base its base model (name or id).
	Adapter bool   `json:"adapter,omitempty"`
	Base    string `json:"base,omitempty"`
}

// WeightFile is a weight file of a model; SHA256 comes from the Hub's
// metadata (the cache's blob name), never re-hashed.
type WeightFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// GPUInfo is what CUDA in the sandbox sees.
type GPUInfo struct {
	Count  int      `json:"count"`
	Names  []string `json:"names,omitempty"`
	Driver string   `json:"driver,omitempty"`
	CUDA   string   `json:"cuda,omitempty"`
	Error  string   `json:"error,omitempty"` // why none was seen
}

// Limits are the resource limits the kernel sees.
type Limits struct {
	CPUs       int      `json:"cpus"`
	MemoryMiB  int64    `json:"memory_mib,omitempty"`
	Unverified []string `json:"unverified,omitempty"` // asked for, but enforced where the sandbox cannot see
}

// ErrEnvironmentMismatch means the sandbox is not what was asked for.
var ErrEnvironmentMismatch = errors.New("the sandbox's environment is not what was asked")

// verifyWant is what the kernel checks its environment against.
type verifyWant struct {
	Packages  []string      `json:"packages,omitempty"`
	Models    []verifyModel `json:"models,omitempty"`
	GPU       *core.GPU     `json:"gpu,omitempty"`
	CPUs      float64       `json:"cpus,omitempty"`
	MemoryMiB int64         `json:"memory_mib,omitempty"`
}

type verifyModel struct {
	Hidden   bool   `json:"hidden,omitempty"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Revision string `json:"revision,omitempty"`
	Commit   string `json:"commit,omitempty"`
	EnvVar   string `json:"env_var,omitempty"`
	Path     string `json:"path,omitempty"` // hidden models: where their files are
	Adapter  bool   `json:"adapter,omitempty"`
}

// verifyEnvironment runs the check in the kernel, silently (nothing reaches
// the notebook), and returns the manifest, or an error naming every way the
// sandbox differs from what was asked.
func verifyEnvironment(ctx context.Context, k *kernel.Kernel, cfg *core.SandboxConfig, models []Model, paths []modelPath, version string) (*Environment, error) {
	want := verifyWant{Packages: cfg.PythonPackages, CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB}
	if g, _ := core.ParseGPU(cfg.GPU); g.Kind != "" {
		want.GPU = &g
	}
	for i, m := range models {
		vm := verifyModel{Hidden: m.Hidden, ID: m.ID, Name: m.Name, Revision: m.Revision, Commit: m.Commit, EnvVar: m.EnvVar, Adapter: m.Adapter}
		if m.Hidden && i < len(paths) {
			vm.Path = string(paths[i])
		}
		want.Models = append(want.Models, vm)
	}
	wantJSON, _ := json.Marshal(want) // plain data: cannot fail
	var out strings.Builder
	res, err := k.Execute(ctx, fmt.Sprintf("WANT = %s\n%s", pyJSONLiteral(wantJSON), verifyScript), &kernel.ExecuteOptions{
		Silent: true,
		OnEvent: func(e kernel.Event) {
			if e.Type == "stream" {
				var s struct{ Text string }
				_ = json.Unmarshal(e.Content, &s)
				out.WriteString(s.Text)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("check the environment in the kernel: %w", err)
	}
	if res.Status != "ok" {
		return nil, fmt.Errorf("check the environment in the kernel: %s: %s", res.EName, res.EValue)
	}
	_, line, ok := strings.Cut(out.String(), "SENA-ENV ")
	if !ok {
		return nil, fmt.Errorf("check the environment in the kernel: it printed no report")
	}
	var found struct {
		Environment
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &found); err != nil {
		return nil, fmt.Errorf("check the environment in the kernel: %v", err)
	}
	env := found.Environment
	env.Sena, env.Provider, env.CheckedAt = version, cfg.Provider, time.Now().UTC()
	if len(env.Models) == len(models) {
		for i, m := range models {
			env.Models[i].Adapter, env.Models[i].Base = m.Adapter, m.Base
		}
	}
	if len(found.Problems) > 0 {
		return &env, fmt.Errorf("%w: %s", ErrEnvironmentMismatch, strings.Join(found.Problems, "; "))
	}
	return &env, nil
}

// pyJSONLiteral is JSON as a Python expression (json.loads of a string),
// which keeps true/false/null meaning what they do in JSON.
func pyJSONLiteral(data []byte) string {
	q, _ := json.Marshal(string(data)) // a JSON string literal is a Python one
	return "__import__('json').loads(" + string(q) + ")"
}
