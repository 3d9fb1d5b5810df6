package kernel

import (
	"context"
	"net/http"
	"path"
)

// KernelModel is the server's view of a running kernel.
type KernelModel struct {
	ID             string `json:"id"`
	Name           string `json:"name"`            // kernelspec name, e.g. "python3"
	ExecutionState string `json:"execution_state"` // starting, idle, busy, dead, ...
}

// SessionModel binds a notebook path to a kernel on the server.
type SessionModel struct {
	ID     string      `json:"id"`
	Path   string      `json:"path"`
	Kernel KernelModel `json:"kernel"`
}

// KernelSpecs lists the kernels a server can start.
type KernelSpecs struct {
	Default string                // name of the default kernelspec
	Specs   map[string]KernelSpec // by name
}

// KernelSpec describes one installable kernel.
type KernelSpec struct {
	Name        string
	DisplayName string
	Language    string
}

// StartSession starts a kernel bound to notebookPath (POST /api/sessions), so
// that JupyterLab opening the same notebook attaches to the same kernel. The
// notebook need not exist. kernelName "" means the server's default.
func (s *Server) StartSession(ctx context.Context, notebookPath, kernelName string) (*SessionModel, error) {
	kern := map[string]string{}
	if kernelName != "" {
		kern["name"] = kernelName
	}
	body := map[string]any{
		"path": notebookPath, "type": "notebook", "name": path.Base(notebookPath), "kernel": kern,
	}
	var m SessionModel
	if err := s.do(ctx, http.MethodPost, s.endpoint("api", "sessions"), body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Kernel returns the model of one kernel; ErrKernelNotFound if there is none.
func (s *Server) Kernel(ctx context.Context, id string) (*KernelModel, error) {
	var m KernelModel
	if err := s.kernelCall(ctx, http.MethodGet, id, "", &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Kernels lists the running kernels.
func (s *Server) Kernels(ctx context.Context) ([]KernelModel, error) {
	var ms []KernelModel
	if err := s.do(ctx, http.MethodGet, s.endpoint("api", "kernels"), nil, &ms); err != nil {
		return nil, err
	}
	return ms, nil
}

// InterruptKernel sends the kernel an interrupt (SIGINT, or interrupt_request
// for kernels that ask for messages).
func (s *Server) InterruptKernel(ctx context.Context, id string) error {
	return s.kernelCall(ctx, http.MethodPost, id, "interrupt", nil)
}

// RestartKernel restarts the kernel, losing its state; it returns once the
// new kernel answers (the server waits up to a minute for that).
func (s *Server) RestartKernel(ctx context.Context, id string) error {
	return s.kernelCall(ctx, http.MethodPost, id, "restart", nil)
}

// ShutdownKernel stops the kernel (DELETE /api/kernels/{id}).
func (s *Server) ShutdownKernel(ctx context.Context, id string) error {
	return s.kernelCall(ctx, http.MethodDelete, id, "", nil)
}

// kernelCall sends a request about one kernel, turning 404 into ErrKernelNotFound.
func (s *Server) kernelCall(ctx context.Context, method, id, action string, out any) error {
	if id == "" || id == "." || id == ".." {
		return errorf(ErrKernelNotFound, "kernel id %q: want the id of a running kernel", id)
	}
	segs := []string{"api", "kernels", id}
	if action != "" {
		segs = append(segs, action)
	}
	err := s.do(ctx, method, s.endpoint(segs...), nil, out)
	if isStatus(err, http.StatusNotFound) {
		return errorf(ErrKernelNotFound, "no kernel %q on %s: it was shut down, culled or never started; list kernels or start a new session",
			id, s.BaseURL())
	}
	return err
}

// KernelSpecs returns the server's kernelspecs (GET /api/kernelspecs).
func (s *Server) KernelSpecs(ctx context.Context) (*KernelSpecs, error) {
	var raw struct {
		Default     string `json:"default"`
		Kernelspecs map[string]struct {
			Name string `json:"name"`
			Spec struct {
				DisplayName string `json:"display_name"`
				Language    string `json:"language"`
			} `json:"spec"`
		} `json:"kernelspecs"`
	}
	if err := s.do(ctx, http.MethodGet, s.endpoint("api", "kernelspecs"), nil, &raw); err != nil {
		return nil, err
	}
	ks := &KernelSpecs{Default: raw.Default, Specs: map[string]KernelSpec{}}
	for name, k := range raw.Kernelspecs {
		ks.Specs[name] = KernelSpec{Name: name, DisplayName: k.Spec.DisplayName, Language: k.Spec.Language}
	}
	return ks, nil
}
