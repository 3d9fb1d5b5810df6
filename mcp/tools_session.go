package mcp

import (
	"context"
	"errors"
	"fmt"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/kernel"
	"github.com/sena-labs/sena/core/session"
)

// SessionInfo is what an agent needs to work in a session.
type SessionInfo struct {
	SessionID    string               `json:"session_id" jsonschema:"pass it to every other tool"`
	Provider     string               `json:"provider" jsonschema:"what runs the sandbox; external for a Jupyter server attached by URL"`
	Mode         core.Mode            `json:"mode" jsonschema:"notebook: execute_code runs Python; cli: it runs shell commands"`
	JupyterURL   string               `json:"jupyter_url,omitempty" jsonschema:"the notebook in Jupyter, token included: give it to the researcher to watch"`
	NotebookPath string               `json:"notebook_path" jsonschema:"the .ipynb on the machine running this server, updated after every call"`
	GPU          string               `json:"gpu,omitempty"`
	Models       []session.Model      `json:"models,omitempty" jsonschema:"models in the sandbox; env_var names the variable holding each one's path"`
	Skills       []session.Skill      `json:"skills,omitempty" jsonschema:"skills mounted in the sandbox; their modules import by name"`
	Cells        int                  `json:"cells" jsonschema:"cells already in the notebook, markdown included (get_notebook_outputs reads them)"`
	Installed    []string             `json:"installed_packages,omitempty" jsonschema:"packages install_packages added while the session ran"`
	Environment  *session.Environment `json:"environment,omitempty" jsonschema:"what the kernel was checked to run in when the session started: Python, every package's version, model commits, GPUs, limits"`
	Resumed      *session.Resumed     `json:"resumed,omitempty" jsonschema:"what resume re-ran: ran of cells code cells; failed is the code cell (1-based) that raised, error its exception; the session is up either way"`
	FromPool     bool                 `json:"from_pool,omitempty" jsonschema:"the session took a warm sandbox that sena warm kept ready (it started in well under a second)"`
	Pool         string               `json:"pool,omitempty" jsonschema:"the warm pool it came from"`
}

// SessionIDInput names a session.
type SessionIDInput struct {
	SessionID string `json:"session_id" jsonschema:"the session id from start_session, attach_to_session or list_sessions"`
}

// AttachInput is attach_to_session's arguments.
type AttachInput struct {
	SessionID  string `json:"session_id,omitempty" jsonschema:"a session Sena started (start_session, sena up, list_sessions)"`
	JupyterURL string `json:"jupyter_url,omitempty" jsonschema:"any Jupyter server, as its URL with ?token=...: used when session_id is empty or not a Sena session; a new kernel and notebook are started there"`
}

// SessionList is list_sessions' result.
type SessionList struct {
	Sessions []ListedSession `json:"sessions"`
	Warnings []string        `json:"warnings,omitempty" jsonschema:"providers that could not be asked"`
}

// ListedSession is one session with its live status.
type ListedSession struct {
	SessionID    string      `json:"session_id"`
	Provider     string      `json:"provider"`
	Status       core.Status `json:"status" jsonschema:"running, stopped, unknown, starting; orphan:... for a sandbox with no session record (sena gc removes it)"`
	Mode         core.Mode   `json:"mode,omitempty"`
	JupyterURL   string      `json:"jupyter_url,omitempty"`
	NotebookPath string      `json:"notebook_path,omitempty"`
	CreatedAt    time.Time   `json:"created_at,omitzero"`
	Attached     bool        `json:"attached" jsonschema:"this server holds a kernel connection to it"`
}

// ShutdownResult is shutdown_session's result.
type ShutdownResult struct {
	SessionID    string `json:"session_id"`
	Stopped      string `json:"stopped" jsonschema:"sandbox (a Sena session: everything in it is gone) or kernel (an external Jupyter server keeps running)"`
	NotebookPath string `json:"notebook_path" jsonschema:"the notebook, which outlives the session"`
}

// SkillList is list_skills' result.
type SkillList struct {
	Skills []session.Skill `json:"skills"`
	Usage  string          `json:"usage"`
}

func (s *Server) addSessionTools() {
	schema, err := startSessionSchema()
	if err != nil {
		panic("mcp: start_session schema: " + err.Error()) // derived from types; the tests build it
	}
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "start_session", InputSchema: schema, Description: "Bring a sandbox up (GPU, models, packages, workspace) with a live Jupyter kernel and a notebook, " +
		"and return once the kernel answers. It takes what `sena up` and sena.yaml take, under the same keys. This can take minutes (image builds, model downloads). " +
		"Sandboxes cost money and run until shutdown_session: reuse a session (list_sessions) rather than starting another."}, s.startSession)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "attach_to_session", Description: "Attach to a session Sena started (by session_id), " +
		"or to any Jupyter server by jupyter_url (with ?token=...), where a new kernel and notebook are started. " +
		"Returns the session's details; calling it again is harmless. Other tools attach by themselves, so this is needed only for URLs " +
		"or to read a session's details."}, s.attach)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "list_sessions", Description: "List Sena's sessions with their live status, jupyter_url and notebook path, " +
		"and sandboxes that no session owns."}, s.listSessions)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "shutdown_session", Description: "Stop a session: a Sena session's sandbox is destroyed with all its state; " +
		"for a session attached by URL only the kernel Sena started is shut down. The notebook file is kept. Use it when the experiment is done, or when asked."}, s.shutdown)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "list_skills", Description: "List the skills mounted in a session, with their descriptions: " +
		"reusable interpretability techniques (a directory with a SKILL.md and Python modules importable in the kernel). Choose one by its description, then read its SKILL.md."}, s.listSkills)
	sdk.AddTool(s.sdk, &sdk.Tool{Name: "list_libraries", Description: "List the workspace libraries of a session (lib/, importable by module name): " +
		"each module's docstring and its public functions with their signatures and first docstring line, read without importing them."}, s.listLibraries)
}

// LibraryList is list_libraries' result.
type LibraryList struct {
	Libraries []session.LibraryInfo `json:"libraries"`
}

func (s *Server) listLibraries(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *LibraryList, error) {
	live, err := s.pool.get(ctx, in.SessionID)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	libs, err := live.ListLibraries(ctx)
	if err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	if libs == nil {
		libs = []session.LibraryInfo{}
	}
	for i := range libs {
		if libs[i].Members == nil {
			libs[i].Members = []session.LibraryMember{}
		}
	}
	return structured(&LibraryList{Libraries: libs})
}

func (s *Server) startSession(ctx context.Context, req *sdk.CallToolRequest, in StartSessionInput) (*sdk.CallToolResult, *SessionInfo, error) {
	cfg, err := in.sandboxConfig(&s.opts)
	if err != nil {
		return nil, nil, err
	}
	stop := keepalive(ctx, req, s.opts.ProgressEvery, func(d time.Duration) string {
		return fmt.Sprintf("starting a %s sandbox: %s", cfg.Provider, d.Round(time.Second))
	})
	rec, err := s.m.Up(ctx, cfg)
	stop()
	if err != nil {
		return nil, nil, err
	}
	// Hold its kernel connection from now on: the session is this server's.
	live, err := s.pool.get(ctx, rec.ID)
	if err != nil {
		return nil, nil, s.agentError(rec.ID, err)
	}
	s.addNotebookResource(rec.ID)
	info, err := s.sessionInfo(live)
	if err != nil {
		return nil, nil, err
	}
	return structured(info)
}

func (s *Server) attach(ctx context.Context, _ *sdk.CallToolRequest, in AttachInput) (*sdk.CallToolResult, *SessionInfo, error) {
	if in.SessionID == "" && in.JupyterURL == "" {
		return nil, nil, errors.New("give session_id (a Sena session) or jupyter_url (any Jupyter server, with its token)")
	}
	if in.SessionID == "" && in.JupyterURL != "" {
		// The URL of a session Sena started (its jupyter_url) is that session.
		if rec, ok := s.m.SessionByURL(in.JupyterURL); ok {
			in.SessionID = rec.ID
		}
	}
	if in.SessionID != "" && (in.JupyterURL == "" || s.known(in.SessionID)) {
		live, err := s.pool.get(ctx, in.SessionID)
		if err != nil {
			return nil, nil, s.agentError(in.SessionID, err)
		}
		s.addNotebookResource(live.ID)
		info, err := s.sessionInfo(live)
		if err != nil {
			return nil, nil, err
		}
		return structured(info)
	}
	live, err := s.m.AttachExternal(ctx, in.JupyterURL)
	if err != nil {
		_, token, _ := kernel.ParseURL(in.JupyterURL)
		return nil, nil, redact(err, token)
	}
	s.pool.addExternal(live)
	s.addNotebookResource(live.ID)
	info, err := s.sessionInfo(live)
	if err != nil {
		return nil, nil, err
	}
	return structured(info)
}

// known reports whether id names a session this server can attach to.
func (s *Server) known(id string) bool {
	if _, ok := s.pool.attached()[id]; ok {
		return true
	}
	_, err := s.m.Store().Get(id)
	return err == nil
}

func (s *Server) sessionInfo(live *session.Session) (*SessionInfo, error) {
	nb, err := live.Notebook()
	if err != nil {
		return nil, err
	}
	info, err := s.info(live.Record, len(nb.Cells))
	if err != nil {
		return nil, err
	}
	info.Installed = session.InstalledPackages(nb)
	if s.pool.isExternal(live.ID) {
		info.JupyterURL = "" // the agent has it; it holds the server's token
	}
	return info, nil
}

func (s *Server) info(rec *session.Record, cells int) (*SessionInfo, error) {
	info := &SessionInfo{
		SessionID: rec.ID, Provider: rec.Provider, Mode: rec.Mode, GPU: rec.Config.GPU,
		NotebookPath: s.m.Store().NotebookPath(rec.ID), Models: rec.Models, Skills: rec.Skills, Cells: cells,
		Environment: rec.Environment, Resumed: rec.Resumed,
	}
	if rec.Warm != nil {
		info.FromPool, info.Pool = true, rec.Warm.Pool
	}
	if rec.Provider != session.ExternalProvider {
		url, err := s.m.JupyterURL(rec)
		if err != nil {
			return nil, err
		}
		info.JupyterURL = url
	}
	return info, nil
}

func (s *Server) listSessions(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, *SessionList, error) {
	all, errs := s.m.List(ctx, s.opts.ListProviders)
	live := s.pool.attached()
	out := &SessionList{Sessions: []ListedSession{}}
	for _, st := range all {
		ls := ListedSession{SessionID: st.ID, Provider: st.Provider, Status: st.Status, Mode: st.Mode, CreatedAt: st.CreatedAt}
		switch {
		case st.Orphan:
			ls.Status = "orphan:" + st.Status
		case st.State == session.StateStarting:
			ls.Status = "starting"
		}
		if !st.Orphan {
			ls.JupyterURL, _ = s.m.JupyterURL(st.Record)
			ls.NotebookPath = s.m.Store().NotebookPath(st.ID)
		}
		_, ls.Attached = live[st.ID]
		out.Sessions = append(out.Sessions, ls)
	}
	for id, sess := range live {
		if s.pool.isExternal(id) {
			out.Sessions = append(out.Sessions, ListedSession{
				SessionID: id, Provider: sess.Provider, Status: core.StatusRunning, Mode: sess.Mode,
				NotebookPath: s.m.Store().NotebookPath(id), CreatedAt: sess.CreatedAt, Attached: true,
			})
		}
	}
	for _, err := range errs {
		if !errors.Is(err, core.ErrUnavailable) { // a backend not set up has no sandboxes
			out.Warnings = append(out.Warnings, err.Error())
		}
	}
	return structured(out)
}

func (s *Server) shutdown(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *ShutdownResult, error) {
	out := &ShutdownResult{SessionID: in.SessionID, NotebookPath: s.m.Store().NotebookPath(in.SessionID)}
	if s.pool.isExternal(in.SessionID) {
		live, err := s.pool.get(ctx, in.SessionID)
		if err != nil {
			return nil, nil, s.agentError(in.SessionID, err)
		}
		err = live.Shutdown(ctx)
		s.pool.forget(in.SessionID)
		if err != nil {
			return nil, nil, s.agentError(in.SessionID, err)
		}
		out.Stopped = "kernel"
		return structured(out)
	}
	s.pool.forget(in.SessionID)
	if err := s.m.Down(ctx, in.SessionID); err != nil {
		return nil, nil, s.agentError(in.SessionID, err)
	}
	out.Stopped = "sandbox"
	return structured(out)
}

func (s *Server) listSkills(ctx context.Context, _ *sdk.CallToolRequest, in SessionIDInput) (*sdk.CallToolResult, *SkillList, error) {
	var skills []session.Skill
	if !s.pool.isExternal(in.SessionID) {
		rec, err := s.m.Store().Get(in.SessionID)
		if err != nil {
			return nil, nil, s.agentError(in.SessionID, err)
		}
		skills = rec.Skills
	}
	if skills == nil {
		skills = []session.Skill{}
	}
	return structured(&SkillList{
		Skills: skills,
		Usage: "Each skill's directory (path, relative to the kernel's working directory) is on sys.path, so its modules import by name. " +
			"Read its instructions with read_file(path='<path>/SKILL.md'). start_session's skills argument mounts more in a new session.",
	})
}
