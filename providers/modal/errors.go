package modal

import (
	"errors"
	"fmt"
	"strings"

	modalsdk "github.com/modal-labs/libmodal/modal-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sena-labs/sena/core"
)

// modalError turns an answer from Modal into an error wrapping the core
// sentinel that says what the user can do; what is the verb ("create the
// sandbox"). Modal's message is kept: it names the resource and the limit.
func modalError(what string, err error) error {
	if err == nil {
		return nil
	}
	var notFound modalsdk.NotFoundError
	if errors.As(err, &notFound) {
		return core.Errorf(core.ErrNotFound, "modal: %s: %s", what, notFound.Exception)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("modal: %s: %w", what, err)
	}
	msg := st.Message()
	switch code := st.Code(); {
	case code == codes.Unauthenticated || code == codes.PermissionDenied:
		return core.Errorf(core.ErrUnavailable, "modal: %s: Modal rejected the credentials (%s); check MODAL_TOKEN_ID and MODAL_TOKEN_SECRET or run `modal token new`", what, msg)
	case code == codes.ResourceExhausted:
		return core.Errorf(core.ErrUnavailable, "modal: %s: Modal quota or GPU capacity exhausted (%s); try later, another GPU kind, or raise the workspace limit", what, msg)
	case code == codes.NotFound && strings.HasPrefix(msg, "Environment "):
		return core.Errorf(core.ErrInvalidConfig, "modal: %s: %s: MODAL_ENVIRONMENT (or the Modal profile's environment) names an environment this Modal workspace does not have; `modal environment list` shows them, and unsetting it uses the default", what, msg)
	case code == codes.NotFound:
		return core.Errorf(core.ErrNotFound, "modal: %s: %s", what, msg)
	case code == codes.InvalidArgument:
		return core.Errorf(core.ErrInvalidConfig, "modal: %s: Modal refused the request: %s", what, msg)
	case code == codes.FailedPrecondition:
		return core.Errorf(core.ErrUnsupported, "modal: %s: %s", what, msg)
	case code == codes.Unavailable || code == codes.DeadlineExceeded:
		return core.Errorf(core.ErrUnavailable, "modal: %s: cannot reach Modal: %s", what, msg)
	default:
		return fmt.Errorf("modal: %s: %w", what, err)
	}
}

// isNotFound reports whether Modal says the object does not exist.
func isNotFound(err error) bool {
	var nf modalsdk.NotFoundError
	return errors.As(err, &nf) || status.Code(err) == codes.NotFound
}
