package modal

import (
	"context"
	"net/http"
	"time"

	modalsdk "github.com/modal-labs/libmodal/modal-go"

	"github.com/sena-labs/sena/core"
)

// jupyterWait bounds how long Create waits for Jupyter behind the tunnel;
// the tunnel opens when the container starts, Jupyter a few seconds later.
const jupyterWait = 5 * time.Minute

// probeClient makes the readiness probes; each is short.
var probeClient = &http.Client{Timeout: 10 * time.Second}

// waitForJupyter polls GET api/status through the tunnel with the token
// until Jupyter answers 200, so that Create returns a working endpoint, as
// the other providers do, and a Jupyter that dies at start is an error
// here (with the sandbox terminated) rather than a hang in the caller.
func waitForJupyter(ctx context.Context, sb *modalsdk.Sandbox, url, token string) error {
	deadline := time.Now().Add(jupyterWait)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"api/status", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "token "+token)
		if resp, err := probeClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if code, err := sb.Poll(ctx); err == nil && code != nil {
			return core.Errorf(core.ErrUnavailable, "modal: sandbox %s exited with code %d before Jupyter answered; see `modal container logs %s`", sb.SandboxID, *code, sb.SandboxID)
		}
		if time.Now().After(deadline) {
			return core.Errorf(core.ErrUnavailable, "modal: Jupyter in sandbox %s did not answer at %s within %s", sb.SandboxID, url, jupyterWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
