package master

import (
	"fmt"
	"net/http"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/httpbody"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// maxCallBytes bounds a scheduler call's body; an ACCEPT launching
// thousands of tasks stays far below it.
const maxCallBytes = 16 << 20

const streamIDHeader = "Mesos-Stream-Id"

// serveScheduler is POST /api/v1/scheduler: the Mesos v1 scheduler API.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return
	}
	call, c, ok := m.readCall(w, r)
	if !ok {
		return
	}
	m.metrics.schedulerCalls.WithLabelValues(call.GetType().String()).Inc()
	if call.Type == nil {
		http.Error(w, "Expecting 'type' to be present", http.StatusBadRequest)
		return
	}
	if call.GetType() == schedulerpb.Call_UNKNOWN {
		http.Error(w, "Call type UNKNOWN is not implemented", http.StatusNotImplemented)
		return
	}
	if msg := core.ValidateCall(call); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		m.subscribeHTTP(w, r, call)
		return
	}
	var rep core.Result
	streamID := r.Header.Get(streamIDHeader)
	principal := auth.Principal(r.Context())
	err := m.do(r.Context(), func(c *core.Core) {
		claimed, known := c.FrameworkPrincipal(call.GetFrameworkId().GetValue())
		if known && m.cfg.AuthenticateFrameworks && claimed != principal {
			rep = core.Result{Code: core.Forbidden, Msg: fmt.Sprintf("Principal %q may not act for framework %s", principal, call.GetFrameworkId().GetValue())}
			return
		}
		if known {
			// Unauthenticated frameworks are limited as the principal they
			// claim, as in Mesos.
			principal = claimed
		}
		if ok, retry := m.cfg.RateLimits.Allow(principal); !ok {
			rep = core.Result{Code: core.TooManyRequests, Retry: retry}
			return
		}
		rep = c.SchedulerCall(call, streamID)
	})
	if err != nil {
		http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if rep.Code == core.TooManyRequests {
		m.metrics.rateLimited.WithLabelValues("scheduler").Inc()
		tooManyRequests(w, principal, rep.Retry)
		return
	}
	if rep.Code == core.OK {
		// UPDATE_FRAMEWORK: mesos-go insists on its own media type on a 200.
		w.Header().Set("Content-Type", c.MediaType())
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	if rep.Code != core.Accepted {
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// readCall decodes the request body; on failure it has already answered.
func (m *Master) readCall(w http.ResponseWriter, r *http.Request) (*schedulerpb.Call, codec.Codec, bool) {
	call := &schedulerpb.Call{}
	c, ok := httpbody.ReadCall(w, r, maxCallBytes, call)
	return call, c, ok
}

// subscribeHTTP answers SUBSCRIBE with a stream that lasts as long as the
// subscription.
func (m *Master) subscribeHTTP(w http.ResponseWriter, r *http.Request, call *schedulerpb.Call) {
	if r.Header.Get(streamIDHeader) != "" {
		http.Error(w, "Subscribe calls should not include the 'Mesos-Stream-Id' header", http.StatusBadRequest)
		return
	}
	out, err := codec.Negotiate(r.Header.Get("Accept"))
	if err != nil {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", codec.JSON.MediaType(), codec.Protobuf.MediaType()), http.StatusNotAcceptable)
		return
	}
	if m.cfg.AuthenticateFrameworks {
		// The framework acts as the principal it authenticated as: Mesos
		// refuses a FrameworkInfo naming someone else.
		got, want := call.GetSubscribe().GetFrameworkInfo().GetPrincipal(), auth.Principal(r.Context())
		if got != want {
			http.Error(w, fmt.Sprintf("Framework principal %q does not match the authenticated principal %q", got, want), http.StatusForbidden)
			return
		}
	}
	info := call.GetSubscribe().GetFrameworkInfo()
	if ok, retry := m.cfg.RateLimits.Allow(info.GetPrincipal()); !ok {
		m.metrics.rateLimited.WithLabelValues("scheduler").Inc()
		tooManyRequests(w, info.GetPrincipal(), retry)
		return
	}
	if rep := m.core.AuthorizeFramework(info.GetPrincipal(), info); rep.Failed() {
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	streamID, box := uuid.New().String(), newOutbox()
	conn := core.NewSchedulerConn(streamID, box)
	var (
		frameworkID string
		rep         core.Result
	)
	err = m.do(r.Context(), func(c *core.Core) { frameworkID, rep = c.Subscribe(call, conn) })
	if err != nil {
		http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if rep.Failed() {
		m.log.Warn("framework subscription refused", "framework", info.GetId().GetValue(), "principal", info.GetPrincipal(), "reason", rep.Msg)
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	w.Header().Set(streamIDHeader, streamID)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	reason := box.pump(w, r, out, core.HeartbeatEvent, m.cfg.HeartbeatInterval)
	if frameworkID != "" {
		m.post(func(c *core.Core) { c.SchedulerDisconnected(frameworkID, conn, reason) })
	}
}
