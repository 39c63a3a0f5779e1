package master

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/httpbody"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// maxOperatorCallBytes bounds an operator call; a maintenance schedule for
// thousands of machines stays far below it.
const maxOperatorCallBytes = 4 << 20

// serveOperator is POST /api/v1: Mesos' v1 operator API.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return
	}
	in, err := codec.ForContentType(r.Header.Get("Content-Type"))
	switch {
	case errors.Is(err, codec.ErrNoContentType):
		http.Error(w, "Expecting 'Content-Type' to be present", http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, fmt.Sprintf("Expecting 'Content-Type' of %s or %s, got %q",
			codec.JSON.MediaType(), codec.Protobuf.MediaType(), r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	}
	out := in
	if r.Header.Get("Accept") != "" {
		if out, err = codec.Negotiate(r.Header.Get("Accept")); err != nil {
			http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", codec.JSON.MediaType(), codec.Protobuf.MediaType()), http.StatusNotAcceptable)
			return
		}
	}
	body, ok := httpbody.Read(w, r, maxOperatorCallBytes)
	if !ok {
		return
	}
	call := &masterpb.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.metrics.operatorCalls.WithLabelValues(call.GetType().String()).Inc()
	if msg := validateOperatorCall(call); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	var (
		resp *masterpb.Response
		rep  reply
	)
	principal := auth.Principal(r.Context())
	if ok, retry := m.cfg.RateLimits.allow(principal); !ok {
		m.metrics.rateLimited.WithLabelValues("operator").Inc()
		tooManyRequests(w, principal, retry)
		return
	}
	switch call.GetType() {
	case masterpb.Call_SUBSCRIBE:
		m.subscribeOperator(w, r, out, principal)
		return
	case masterpb.Call_GET_HEALTH:
		resp = &masterpb.Response{Type: masterpb.Response_GET_HEALTH.Enum(),
			GetHealth: &masterpb.Response_GetHealth{Healthy: proto.Bool(true)}}
	case masterpb.Call_GET_VERSION:
		resp = &masterpb.Response{Type: masterpb.Response_GET_VERSION.Enum(),
			GetVersion: &masterpb.Response_GetVersion{VersionInfo: versionInfo()}}
	case masterpb.Call_GET_METRICS:
		if rep := m.authorizeMetrics(principal); rep.status != 0 {
			http.Error(w, rep.msg, rep.status)
			return
		}
		resp, err = m.getMetrics()
		if err != nil {
			http.Error(w, "Failed to gather metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
	default:
		handle := operatorHandlers[call.GetType()]
		if handle == nil {
			http.Error(w, fmt.Sprintf("Operator call %v is not implemented", call.GetType()), http.StatusNotImplemented)
			return
		}
		if err := m.do(r.Context(), func(s *state) {
			if rep = m.authorizeOperator(s, principal, call); rep.status != 0 {
				return
			}
			resp, rep = handle(m, s, call)
			m.viewer(principal).filterView(s, resp)
		}); err != nil {
			http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if rep.status != 0 && rep.status != http.StatusOK {
		http.Error(w, rep.msg, rep.status)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := out.Marshal(resp)
	if err != nil {
		http.Error(w, "Failed to encode the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", out.MediaType())
	_, _ = w.Write(b)
}

// validateOperatorCall checks what can be checked without the state.
func validateOperatorCall(call *masterpb.Call) string {
	if call.Type == nil {
		return "Expecting 'type' to be present"
	}
	if msg := checkLimits(call.ProtoReflect()); msg != "" {
		return msg
	}
	switch call.GetType() {
	case masterpb.Call_UNKNOWN:
		return "Call type UNKNOWN is not valid"
	case masterpb.Call_MARK_AGENT_GONE:
		if call.GetMarkAgentGone().GetAgentId().GetValue() == "" {
			return "Expecting 'mark_agent_gone.agent_id' to be present"
		}
	case masterpb.Call_TEARDOWN:
		if call.GetTeardown().GetFrameworkId().GetValue() == "" {
			return "Expecting 'teardown.framework_id' to be present"
		}
	case masterpb.Call_SET_QUOTA:
		if call.GetSetQuota().GetQuotaRequest() == nil {
			return "Expecting 'set_quota.quota_request' to be present"
		}
	case masterpb.Call_REMOVE_QUOTA:
		if call.GetRemoveQuota().GetRole() == "" {
			return "Expecting 'remove_quota.role' to be present"
		}
	}
	return ""
}

// getMetrics answers GET_METRICS with the master's Prometheus gauges and
// counters, one Metric per series (labels folded into the name).
func (m *Master) getMetrics() (*masterpb.Response, error) {
	families, err := m.gatherer.Gather()
	if err != nil {
		return nil, err
	}
	out := &masterpb.Response_GetMetrics{}
	for _, fam := range families {
		for _, metric := range fam.GetMetric() {
			name := fam.GetName()
			for _, l := range metric.GetLabel() {
				name += "/" + l.GetName() + "=" + l.GetValue()
			}
			var v float64
			switch {
			case metric.GetGauge() != nil:
				v = metric.GetGauge().GetValue()
			case metric.GetCounter() != nil:
				v = metric.GetCounter().GetValue()
			case metric.GetHistogram() != nil:
				v = float64(metric.GetHistogram().GetSampleCount())
				name += "/count"
			default:
				continue
			}
			out.Metrics = append(out.Metrics, &mesospb.Metric{Name: proto.String(name), Value: proto.Float64(v)})
		}
	}
	return &masterpb.Response{Type: masterpb.Response_GET_METRICS.Enum(), GetMetrics: out}, nil
}
