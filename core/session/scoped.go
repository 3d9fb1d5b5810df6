package session

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/sena-labs/sena/core"
)

// Scoped is a session's interface file and the tools it exposes: all an
// agent of `sena mcp --scoped` may call.
type Scoped struct {
	File   string       `json:"file"`   // on the machine that ran up
	Source string       `json:"source"` // run again after a kernel restart
	Tools  []ScopedTool `json:"tools"`
}

// ScopedTool is one exposed function as an MCP tool.
type ScopedTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// readScoped reads the interface file before anything is created.
func readScoped(cfg *core.SandboxConfig) (*Scoped, error) {
	if cfg.Scoped == "" {
		return nil, nil
	}
	p, err := filepath.Abs(expandHome(cfg.Scoped))
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "scoped %s: %v", cfg.Scoped, err)
	}
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "scoped: the interface file %s cannot be read: %v", cfg.Scoped, err)
	}
	return &Scoped{File: p, Source: string(src)}, nil
}

// loadScoped runs the interface in the kernel and finds its tools; an
// interface that exposes none, or a function whose signature is not JSON,
// fails up.
func loadScoped(ctx context.Context, s *Session, sc *Scoped) error {
	var tools []ScopedTool
	err := s.quiet(ctx, "scoped_load", map[string]any{"source": sc.Source, "filename": filepath.Base(sc.File)}, &tools, nil)
	if err != nil {
		return core.Errorf(core.ErrInvalidConfig, "scoped: %v", err)
	}
	sc.Tools = tools
	return nil
}

// ScopedResult is what one call of an exposed function gave: its result
// (JSON, or its repr when it is not JSON), or the exception it raised.
type ScopedResult struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// CallScoped calls an exposed function of the session's interface with an
// agent's JSON arguments, in the kernel, recording nothing in the notebook.
// The function raising is a result; arguments that do not fit its
// signature are an error.
func (s *Session) CallScoped(ctx context.Context, name string, args json.RawMessage) (*ScopedResult, error) {
	if s.Scoped == nil {
		return nil, core.Errorf(core.ErrInvalidConfig, "session %s is not scoped", s.ID)
	}
	var a map[string]any
	if len(args) > 0 && string(args) != "null" {
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, core.Errorf(core.ErrInvalidConfig, "%s: the arguments are not a JSON object", name)
		}
	}
	if a == nil {
		a = map[string]any{}
	}
	var r ScopedResult
	err := s.quiet(ctx, "scoped_call", map[string]any{"name": name, "args": a, "source": s.Scoped.Source, "filename": filepath.Base(s.Scoped.File)}, &r, nil)
	if err != nil {
		return nil, err
	}
	return &r, nil
}
