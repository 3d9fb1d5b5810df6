package docker

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/sena-labs/sena/core"
)

// readyTimeout bounds Jupyter's start in the container; a cold start on a
// busy two-core machine takes several seconds.
const readyTimeout = 90 * time.Second

// logTailLines is how much of the container's log a failed start shows.
const logTailLines = 30

// waitJupyter polls GET /api (which needs no token) until it answers 200,
// failing early, with the container's log, if the container exits; then
// checks the server requires the token from the token file.
func (p *Provider) waitJupyter(ctx context.Context, id, url, token string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"api", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return checkToken(ctx, hc, url, token)
			}
		}
		ictx, icancel := p.call(ctx, timeoutQuick)
		info, err := p.docker.ContainerInspect(ictx, id)
		icancel()
		if err == nil && !info.State.Running {
			return fmt.Errorf("jupyter_server exited (status %d) before answering at %s\n%s", info.State.ExitCode, url, p.logTail(ctx, id))
		}
		select {
		case <-ctx.Done():
			// Read the log with a fresh ctx: this one is done.
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer lcancel()
			return fmt.Errorf("jupyter_server did not answer at %s within %s: %w\n%s", url, readyTimeout, ctx.Err(), p.logTail(lctx, id))
		case <-tick.C:
		}
	}
}

// checkToken fails unless the server takes the token (it read the token
// file) and refuses requests without it.
func checkToken(ctx context.Context, hc *http.Client, url, token string) error {
	for _, tc := range []struct {
		token string
		want  int
	}{{token, http.StatusOK}, {"", http.StatusForbidden}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"api/status", nil)
		if err != nil {
			return err
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "token "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("jupyter_server at %s: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			return core.Errorf(core.ErrUnsupported,
				"jupyter_server at %s does not use the token Sena gave it in %s (GET /api/status answered %d): the image needs jupyter_server 1.23 or later, which reads JUPYTER_TOKEN_FILE",
				url, tokenFile, resp.StatusCode)
		}
	}
	return nil
}

// logTail is the end of the container's output, for error messages. The
// token is never in it: Jupyter reads it from a file and does not print it.
func (p *Provider) logTail(ctx context.Context, id string) string {
	ctx, cancel := p.call(ctx, timeoutQuick)
	defer cancel()
	rc, err := p.docker.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(logTailLines)})
	if err != nil {
		return "(no container log: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return "(container log unreadable: " + err.Error() + ")"
	}
	return "--- last lines of the container log ---\n" + strings.TrimRight(out.String(), "\n")
}
