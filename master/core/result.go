package core

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
)

// Code says how a call ended. The transport maps it onto its own answers
// (HTTP statuses for the v1 APIs); the names follow those the APIs give.
type Code int

const (
	// None: nothing to object to; the transport answers as the call's
	// kind succeeds (200 for operator calls, 202 for scheduler calls).
	None Code = iota
	OK
	Accepted
	BadRequest
	Forbidden
	NotFound
	Conflict
	TooManyRequests
	Unavailable
	NotImplemented
)

func (c Code) String() string {
	switch c {
	case None:
		return "none"
	case OK:
		return "ok"
	case Accepted:
		return "accepted"
	case BadRequest:
		return "bad request"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not found"
	case Conflict:
		return "conflict"
	case TooManyRequests:
		return "too many requests"
	case Unavailable:
		return "unavailable"
	case NotImplemented:
		return "not implemented"
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Result is the answer to a call that is not a subscription.
type Result struct {
	Code  Code
	Msg   string
	Retry time.Duration // with TooManyRequests: when to try again
}

// Failed reports whether the call was refused.
func (r Result) Failed() bool { return r.Code > Accepted }

var accepted = Result{Code: Accepted}

func badRequest(format string, args ...any) Result {
	return Result{Code: BadRequest, Msg: fmt.Sprintf(format, args...)}
}

// Stream is one subscriber's event stream (a framework's, an agent's or an
// operator's). The core appends to it and never waits: the transport
// drains it on a goroutine of its own, so a slow client never blocks the
// state machine.
type Stream interface {
	// Push queues ev and reports whether it was accepted: false once the
	// stream is closed or fell too far behind. The caller must not modify
	// ev afterwards.
	Push(ev proto.Message) bool
	// Close ends the stream after the events already queued.
	Close(reason string)
}
