package pull

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Kind says what went wrong with a pull, for callers and metrics.
type Kind string

const (
	BadName        Kind = "bad_name"        // the name does not parse
	NotFound       Kind = "not_found"       // no such repository, tag, digest or archive
	Unauthorized   Kind = "unauthorized"    // the registry refused our credentials (or their absence)
	Timeout        Kind = "timeout"         // the pull took longer than allowed
	DigestMismatch Kind = "digest_mismatch" // content does not match the digest it was asked for by
	Invalid        Kind = "invalid"         // the registry or archive answered something that is not an image
	Unavailable    Kind = "unavailable"     // the registry could not be reached or failed
)

// ErrTimeout is the cause of a context a pull timeout ended.
var ErrTimeout = errors.New("timed out")

// Error is a failed pull: which image, what kind of failure, and the
// underlying cause.
type Error struct {
	Image string
	Kind  Kind
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("image %s: %s: %v", e.Image, e.Kind.describe(), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (k Kind) describe() string {
	switch k {
	case BadName:
		return "malformed name"
	case NotFound:
		return "not found"
	case Unauthorized:
		return "registry refused access"
	case Timeout:
		return "pull timed out"
	case DigestMismatch:
		return "digest mismatch"
	case Invalid:
		return "not a valid image"
	}
	return "registry unavailable"
}

// KindOf is err's Kind, or "" when err is not a pull error.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

// Classify wraps err, met while pulling image under ctx, in an *Error.
func Classify(ctx context.Context, image string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	return &Error{Image: image, Kind: kindOf(ctx, err), Err: cause(ctx, err)}
}

// cause prefers the context's own cause (the timeout, with its length)
// to the transport's "context deadline exceeded".
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrTimeout) {
		return c
	}
	return err
}

func kindOf(ctx context.Context, err error) Kind {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), ErrTimeout) {
		return Timeout
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return NotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return Unauthorized
			case transport.DigestInvalidErrorCode:
				return DigestMismatch
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return NotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return Unauthorized
		}
		if te.StatusCode >= 500 {
			return Unavailable
		}
		return Invalid
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "error verifying") || strings.Contains(msg, "does not match requested digest") || strings.Contains(msg, "diff ID"):
		return DigestMismatch
	case strings.Contains(msg, "unsupported MediaType") || strings.Contains(msg, "invalid character") || strings.Contains(msg, "unexpected end of JSON"):
		return Invalid
	}
	return Unavailable // refused connections, TLS failures, resets
}
