package master

import (
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/internal/httpbody"
	"github.com/corral-sched/corral/master/core"
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
	in, ok := httpbody.ContentCodec(w, r)
	if !ok {
		return
	}
	out, ok := httpbody.AcceptCodec(w, r, in)
	if !ok {
		return
	}
	call := &masterpb.Call{}
	if !httpbody.Decode(w, r, in, maxOperatorCallBytes, call) {
		return
	}
	m.metrics.operatorCalls.WithLabelValues(call.GetType().String()).Inc()
	if msg := core.ValidateOperatorCall(call); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	var (
		resp *masterpb.Response
		rep  core.Result
	)
	principal := auth.Principal(r.Context())
	if ok, retry := m.cfg.RateLimits.Allow(principal); !ok {
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
			GetVersion: &masterpb.Response_GetVersion{VersionInfo: core.VersionInfo()}}
	case masterpb.Call_GET_METRICS:
		if rep := m.core.AuthorizeMetrics(principal); rep.Failed() {
			http.Error(w, rep.Msg, httpStatus(rep.Code))
			return
		}
		var err error
		if resp, err = m.getMetrics(); err != nil {
			http.Error(w, "Failed to gather metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
	default:
		if err := m.do(r.Context(), func(c *core.Core) { resp, rep = c.OperatorCall(call, principal) }); err != nil {
			http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if rep.Failed() {
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	httpbody.WriteResponse(w, out, resp)
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
