package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/sena-labs/sena/core"
)

// wrap turns an error from the Docker API into one a user can act on, keeping
// core's sentinels (ErrUnavailable, ErrNotFound) so errors.Is works across the
// plugin boundary. op says what was being done ("create container").
func (p *Provider) wrap(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		// The caller's own ctx has no deadline (Ctrl-C cancels): this is a
		// call's timeout (call) running out on an engine that does not answer.
		return core.Errorf(core.ErrUnavailable,
			"%s: the Docker engine at %s did not answer in time: is dockerd hung or overloaded? (`docker info` checks it; calls wait a multiple of %s=%s, raise it for a slow engine)",
			op, p.engine.where(), EnvTimeout, p.timeout)
	}
	return translate(op, p.engine.where(), err)
}

func translate(op, host string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, fs.ErrPermission):
		return core.Errorf(core.ErrUnavailable,
			"%s: permission denied on the Docker socket %s: add your user to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root", op, host)
	case client.IsErrConnectionFailed(err):
		return core.Errorf(core.ErrUnavailable,
			"%s: cannot reach the Docker daemon at %s: is dockerd running? (sudo systemctl start docker, or choose another engine with DOCKER_HOST or DOCKER_CONTEXT)", op, host)
	case cerrdefs.IsInvalidArgument(err): // e.g. a bind mount whose source does not exist
		return core.Errorf(core.ErrInvalidConfig, "%s: %v", op, err)
	case cerrdefs.IsNotFound(err):
		return core.Errorf(core.ErrNotFound, "%s: %v", op, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}
