package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// errorKinds maps the sentinels a provider error may wrap to their wire kind
// and to the gRPC code that tools other than Sena (grpcurl) see. The host
// trusts the kind, never the code: gRPC itself reports a broken connection
// as Unavailable, which must not read as core.ErrUnavailable.
var errorKinds = []struct {
	kind     pb.ErrorKind
	sentinel error
	code     codes.Code
}{
	{pb.ErrorKind_ERROR_KIND_NOT_FOUND, core.ErrNotFound, codes.NotFound},
	{pb.ErrorKind_ERROR_KIND_INVALID_CONFIG, core.ErrInvalidConfig, codes.InvalidArgument},
	{pb.ErrorKind_ERROR_KIND_UNSUPPORTED, core.ErrUnsupported, codes.Unimplemented},
	{pb.ErrorKind_ERROR_KIND_UNAVAILABLE, core.ErrUnavailable, codes.Unavailable},
	{pb.ErrorKind_ERROR_KIND_PLUGIN_FAILED, core.ErrPluginFailed, codes.Internal},
	{pb.ErrorKind_ERROR_KIND_CANCELED, context.Canceled, codes.Canceled},
	{pb.ErrorKind_ERROR_KIND_DEADLINE_EXCEEDED, context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns a provider's error into a gRPC status that carries its
// message verbatim and the sentinel it wraps.
func toStatus(err error) error {
	kind, code := pb.ErrorKind_ERROR_KIND_UNSPECIFIED, codes.Unknown
	for _, k := range errorKinds {
		if errors.Is(err, k.sentinel) {
			kind, code = k.kind, k.code
			break
		}
	}
	st, detailErr := status.New(code, err.Error()).WithDetails(protoadapt.MessageV1Of(&pb.ErrorDetail{Kind: kind}))
	if detailErr != nil {
		// Cannot happen for a registered message type; without the detail
		// the host would report a transport failure, so say what broke.
		return status.Errorf(codes.Internal, "encode provider error %q: %v", err.Error(), detailErr)
	}
	return st.Err()
}

// providerError rebuilds on the host the error the provider returned, or
// returns nil when the status carries no ErrorDetail (the call itself failed).
func providerError(st *status.Status) error {
	for _, d := range st.Details() {
		detail, ok := d.(*pb.ErrorDetail)
		if !ok {
			continue
		}
		for _, k := range errorKinds {
			if k.kind == detail.GetKind() {
				return core.Errorf(k.sentinel, "%s", st.Message())
			}
		}
		return errors.New(st.Message())
	}
	return nil
}

// exitGrace is how long a failed call waits for go-plugin to notice that the
// plugin process is gone, which can lag the broken connection slightly.
const exitGrace = 2 * time.Second

// callError explains why method failed on the host: the provider's own error
// when it sent one, else the caller's context ending, a crashed plugin, or a
// broken connection, each wrapping core.ErrPluginFailed.
//
// When the caller's context ends, the result is the same whether the
// provider answered with ctx.Err() or did not answer at all (which of the two
// reaches the host first is a race): it wraps both core.ErrPluginFailed and
// the context's error, so callers test errors.Is(err, context.Canceled) to
// tell their own cancellation apart.
func (c *Client) callError(ctx context.Context, method string, err error) error {
	st := status.Convert(err)
	perr := providerError(st)
	ctxKind := errors.Is(perr, context.Canceled) || errors.Is(perr, context.DeadlineExceeded) ||
		perr == nil && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded)
	if perr != nil && !ctxKind {
		return perr
	}
	if deadline, ok := ctx.Deadline(); ctxKind && ok && time.Until(deadline) < exitGrace {
		// The plugin side enforces the caller's deadline too, and may give up
		// a moment before the caller's own context ends.
		select {
		case <-ctx.Done():
		case <-time.After(exitGrace):
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		when := "before the call was cancelled"
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			when = "before its deadline"
		}
		return &failure{msg: fmt.Sprintf("%s did not answer %s %s", c.describe(), method, when), cause: ctxErr}
	}
	if perr != nil {
		return perr // the provider's own timeout, not the caller's
	}
	select {
	case <-c.done.Done():
		return core.Errorf(core.ErrPluginFailed, "%s exited unexpectedly during %s%s", c.describe(), method, c.stderr.summary())
	case <-time.After(exitGrace):
	}
	return core.Errorf(core.ErrPluginFailed, "%s failed during %s: %s", c.describe(), method, st.Message())
}

// failure is a plugin failure caused by another error (the caller's context):
// errors.Is matches both core.ErrPluginFailed and the cause.
type failure struct {
	msg   string
	cause error
}

func (e *failure) Error() string   { return e.msg }
func (e *failure) Unwrap() []error { return []error{core.ErrPluginFailed, e.cause} }
