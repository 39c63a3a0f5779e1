package core

import (
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
)

// GET_LOGGING_LEVEL and SET_LOGGING_LEVEL, as in Mesos: the level is a
// verbosity (0 is the level the master started with, each step one slog
// level more verbose: 1 is Debug from Info), and a change lasts for a
// duration, after which the level the master started with comes back.

// maxVerbosity bounds the levels SET_LOGGING_LEVEL accepts: past Debug
// slog has nothing more to say.
const maxVerbosity = 8

// logControl changes the level of the master's logger.
type logControl struct {
	mu    sync.Mutex // guards the timer; the LevelVar is safe on its own
	level *slog.LevelVar
	base  slog.Level
	timer *time.Timer
}

func newLogControl(v *slog.LevelVar) *logControl {
	if v == nil {
		return nil
	}
	return &logControl{level: v, base: v.Level()}
}

// verbosity is the current level as Mesos counts it.
func (c *logControl) verbosity() uint32 {
	steps := (c.base - c.level.Level()) / 4
	return uint32(max(steps, 0))
}

// set makes the logger verbosity steps more verbose for d, then reverts.
func (c *logControl) set(verbosity uint32, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.level.Set(c.base - slog.Level(4*verbosity))
	c.timer = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.level.Set(c.base)
	})
}

func init() {
	operatorHandlers[masterpb.Call_GET_LOGGING_LEVEL] = func(m *Core, _ *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		if m.logging == nil {
			return nil, Result{Code: NotImplemented, Msg: "This master was started without a logging level it can change"}
		}
		return &masterpb.Response{Type: masterpb.Response_GET_LOGGING_LEVEL.Enum(),
			GetLoggingLevel: &masterpb.Response_GetLoggingLevel{Level: proto.Uint32(m.logging.verbosity())}}, Result{}
	}
	operatorHandlers[masterpb.Call_SET_LOGGING_LEVEL] = func(m *Core, _ *state, call *masterpb.Call) (*masterpb.Response, Result) {
		if m.logging == nil {
			return nil, Result{Code: NotImplemented, Msg: "This master was started without a logging level it can change"}
		}
		c := call.GetSetLoggingLevel()
		if c == nil || c.Level == nil {
			return nil, badRequest("Expecting 'set_logging_level.level' to be present")
		}
		if c.GetLevel() > maxVerbosity {
			return nil, badRequest("'set_logging_level.level' is %d; at most %d", c.GetLevel(), maxVerbosity)
		}
		ns := c.GetDuration().GetNanoseconds()
		if c.GetDuration() == nil || ns <= 0 {
			return nil, badRequest("Expecting 'set_logging_level.duration' to be present and positive (the level reverts after it)")
		}
		d := time.Duration(ns)
		m.logging.set(c.GetLevel(), d)
		m.log.Warn("logging level changed by an operator", "level", c.GetLevel(), "for", d)
		return nil, Result{}
	}
	// Operations are applied as they are accepted, on resources of the
	// agents themselves; corral keeps no operation whose status a
	// framework or operator could follow (it has no resource providers),
	// so there is none to list.
	operatorHandlers[masterpb.Call_GET_OPERATIONS] = func(m *Core, _ *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_OPERATIONS.Enum(), GetOperations: &masterpb.Response_GetOperations{}}, Result{}
	}
}
