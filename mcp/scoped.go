package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
)

// NewScoped returns a server for a scoped session: its tools are the
// functions the session's interface file exposes, each run in the
// session's kernel, and nothing else: no execute_code, no files, no
// notebook, no other session. For black-box auditing, where the agent must
// not read the model.
func NewScoped(m *session.Manager, id string, opts Options) (*Server, error) {
	opts.defaults()
	rec, err := m.Store().Get(id)
	if err != nil {
		return nil, err
	}
	if rec.Scoped == nil || len(rec.Scoped.Tools) == 0 {
		return nil, core.Errorf(core.ErrInvalidConfig, "session %s was not started with an interface: start it with --scoped interface.py (or scoped: in sena.yaml)", id)
	}
	s := &Server{m: m, opts: opts, pool: newPool(m)}
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "sena-scoped", Title: "Sena (scoped)", Version: opts.Version},
		&sdk.ServerOptions{Instructions: "These tools are the whole interface to a model in a sandbox: each runs one function there and returns its result as JSON."})
	for _, t := range rec.Scoped.Tools {
		name := t.Name
		s.sdk.AddTool(&sdk.Tool{Name: name, Description: t.Description, InputSchema: t.InputSchema},
			func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
				return s.callScoped(ctx, id, name, req.Params.Arguments), nil
			})
	}
	return s, nil
}

// callScoped runs one exposed function. Every failure is a tool error
// whose text says what went wrong, never more of the sandbox than that.
func (s *Server) callScoped(ctx context.Context, id, name string, args json.RawMessage) *sdk.CallToolResult {
	fail := func(msg string) *sdk.CallToolResult {
		return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: msg}}}
	}
	live, err := s.pool.get(ctx, id)
	if err != nil {
		return fail(fmt.Sprintf("the sandbox cannot be reached: %v", err))
	}
	r, err := live.CallScoped(ctx, name, args)
	if err != nil {
		return fail(err.Error())
	}
	if r.Error != "" {
		return fail(name + " raised " + r.Error)
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // the text is read, not put in a page
	if err := enc.Encode(r.Result); err != nil {
		return fail(err.Error())
	}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.TrimSuffix(out.String(), "\n")}}}
}
