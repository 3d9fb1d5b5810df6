package kernel

import (
	"context"
	"net/http"
	"strings"
)

// Post sends body as JSON to an API path of the server (relative to its
// base URL, "api/sena/handover") and decodes the answer into out (may be
// nil). For the endpoints Sena's own launcher adds; errors are those of
// every other call.
func (s *Server) Post(ctx context.Context, path string, body, out any) error {
	return s.do(ctx, http.MethodPost, s.endpoint(strings.Split(strings.Trim(path, "/"), "/")...), body, out)
}
