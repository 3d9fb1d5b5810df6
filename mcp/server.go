// Package mcp is Sena's MCP server: the tools through which AI agents start
// sandboxes, run code in their kernels and read the notebooks back, while
// researchers watch the same notebooks in Jupyter.
package mcp

import (
	"context"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/session"
)

// Options tune the server; zero values take the defaults.
type Options struct {
	// Version is reported to clients.
	Version string
	// Provider runs start_session's sandboxes when the call names none.
	Provider string
	// Python is the local provider's interpreter when a call names none.
	Python string
	// ListProviders are the backends list_sessions searches for sandboxes
	// (besides those of recorded sessions).
	ListProviders []string
	// TextBudget bounds the characters of text in one result (default 20000).
	TextBudget int
	// MaxImages bounds the images in one result (default 4).
	MaxImages int
	// MaxImageEdge is the longest side of an image sent, in pixels (default 1568).
	MaxImageEdge int
	// ExecTimeout bounds the tools that run cells and install_packages when
	// the call sets no timeout (default 10 minutes).
	ExecTimeout time.Duration
	// ProgressEvery is the interval of progress notifications (default 5s).
	ProgressEvery time.Duration
}

func (o *Options) defaults() {
	if o.TextBudget <= 0 {
		o.TextBudget = 20000
	}
	if o.MaxImages <= 0 {
		o.MaxImages = 4
	}
	if o.MaxImageEdge <= 0 {
		o.MaxImageEdge = 1568
	}
	if o.ExecTimeout <= 0 {
		o.ExecTimeout = 10 * time.Minute
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Provider == "" {
		o.Provider = "local"
	}
}

// Server holds the MCP server and the live sessions its tools use.
type Server struct {
	m    *session.Manager
	opts Options
	pool *pool
	sdk  *sdk.Server
}

// New returns a server whose tools act through m.
func New(m *session.Manager, opts Options) *Server {
	opts.defaults()
	s := &Server{m: m, opts: opts, pool: newPool(m)}
	s.sdk = sdk.NewServer(&sdk.Implementation{Name: "sena", Title: "Sena", Version: opts.Version},
		&sdk.ServerOptions{Instructions: instructions})
	s.addSessionTools()
	s.addNotebookTools()
	s.addKernelTools()
	s.addFileTools()
	s.addResources()
	return s
}

// MCP returns the SDK server, to run on a transport.
func (s *Server) MCP() *sdk.Server { return s.sdk }

// Close drops the kernel connections. Sandboxes keep running (shutdown_session
// or `sena down` stops them); kernels started on external Jupyter servers are
// shut down, since no record of them survives this process.
func (s *Server) Close(ctx context.Context) error { return s.pool.close(ctx) }

const instructions = `Sena runs Python in sandboxes with a GPU, models already downloaded and a live Jupyter kernel; every step lands in a notebook a researcher can open.
Workflow: start_session (or attach_to_session) -> execute_code repeatedly (kernel state persists) -> add_markdown to document findings -> shutdown_session when done (sandboxes cost money).
Cells are named by id (stable) or by index among all cells, markdown included (negative from the end); every result names both. Fix the cell an error came from with edit_cell; insert_cell, delete_cell, move_cell and run_cell reshape the notebook.
Look without adding cells: list_variables, describe_model, gpu_status, list_files/read_file. Long output is cut with a read_output call that pages through the rest.
Models are at the paths in the MODEL_<NAME>_PATH environment variables that start_session returns. list_skills shows the techniques mounted in the session.
Errors raised by your code, and a kernel that dies mid-cell, are normal results (status error, or kernel died); a tool error means the call itself was wrong (unknown session, bad cell) and says what to do.
After a restart of this server or of your context, get_notebook_outputs reads the notebook back.`
