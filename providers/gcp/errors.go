package gcp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jitaccess/jit/providers"
)

// codeNames are gRPC codes as Google's JSON errors spell them.
var codeNames = [...]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return c.String()
}

// hints say, per failure, how to fix it; denied names the permission the
// call needs.
type hints struct {
	denied   string
	invalid  string
	notFound string
}

// classify turns an SDK error into a *providers.Error (or, when the
// context ended, an error wrapping ctx.Err()).
func (p *Provider) classify(ctx context.Context, op string, err error, h hints) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return &providers.Error{Kind: providers.KindUnknown, Op: op, Err: oneLine(err)}
	}
	if _, has := ctx.Deadline(); has && st.Code() == codes.DeadlineExceeded {
		// The server ran out of the time our deadline gave it an instant
		// before our own context noticed: it is the caller's deadline.
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	}
	e := &providers.Error{Op: op, Code: codeName(st.Code())}
	var ae *apierror.APIError
	if errors.As(err, &ae) && ae.Reason() != "" {
		e.Code = ae.Reason()
	}
	e.Err = &apiError{code: codeName(st.Code()), message: oneLineString(st.Message()), err: err}
	switch st.Code() {
	case codes.Unauthenticated:
		e.Kind, e.Hint = providers.KindAuth, "your Google credentials were refused; "+authHint
	case codes.PermissionDenied:
		e.Kind, e.Hint = providers.KindDenied, h.denied
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		e.Kind, e.Hint = providers.KindInvalid, h.invalid
	case codes.Aborted, codes.AlreadyExists:
		e.Kind, e.Hint = providers.KindConflict, "the resource kept changing under jit; retry in a moment"
	case codes.ResourceExhausted:
		e.Kind, e.Hint = providers.KindThrottled, "Google is rate limiting these calls; wait a minute and retry"
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal:
		e.Kind, e.Hint = providers.KindTransient, "could not reach Google Cloud"+p.endpointNote()+"; check the network and retry"
	case codes.NotFound:
		e.Kind, e.Hint = providers.KindNotFound, h.notFound
	default:
		e.Kind = providers.KindUnknown
	}
	if e.Hint == "" && e.Kind == providers.KindDenied {
		e.Hint = "your Google account lacks a permission this needs; ask your Google Cloud administrator"
	}
	return e
}

func (p *Provider) endpointNote() string {
	var eps []string
	for _, e := range []endpoint{p.rmEndpoint, p.credsEndpoint, p.pamEndpoint} {
		if e.set {
			eps = append(eps, e.addr)
		}
	}
	if len(eps) == 0 {
		return ""
	}
	return " (endpoint override " + strings.Join(eps, ", ") + ")"
}

// apiError is what Google answered, "CODE: message", instead of gRPC's
// "rpc error: code = … desc = …". The SDK error stays reachable through
// Unwrap.
type apiError struct {
	code, message string
	err           error
}

func (e *apiError) Error() string {
	if e.message == "" {
		return e.code
	}
	return e.code + ": " + e.message
}

func (e *apiError) Unwrap() error { return e.err }

// invalid is a request jit refuses before calling Google.
func invalid(op string, err error, hint string) error {
	return &providers.Error{Kind: providers.KindInvalid, Op: op, Err: err, Hint: hint}
}
