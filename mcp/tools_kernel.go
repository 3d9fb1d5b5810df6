package mcp

import (
	"context"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// KernelResult is interrupt_kernel's and restart_kernel's result.
type KernelResult struct {
	SessionID string `json:"session_id"`
	Done      string `json:"done"`
}

func (s *Server) addKernelTools() {
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "interrupt_kernel", Description: "Interrupt the code running in the session's kernel (like Ctrl-C): " +
		"the running execute_code call returns its partial output with status interrupted. The kernel and its variables are kept."}, s.interrupt)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "restart_kernel", Description: "Restart the session's kernel: every variable and import is lost " +
		"(re-run your setup code), the notebook is kept. Use it when a cell cannot be interrupted or the kernel is in a bad state."}, s.restart)
}

func (s *Server) interrupt(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *KernelResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	if err := live.Interrupt(ctx); err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	return nil, &KernelResult{SessionID: in.SessionID, Done: "interrupt sent; a running cell stops with KeyboardInterrupt"}, nil
}

func (s *Server) restart(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *KernelResult, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	if err := live.Restart(ctx); err != nil {
		return nil, nil, agentError(in.SessionID, err)
	}
	return nil, &KernelResult{SessionID: in.SessionID, Done: "kernel restarted: its variables are gone, the notebook is kept"}, nil
}
