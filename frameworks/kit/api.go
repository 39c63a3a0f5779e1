package kit

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corral-sched/corral/auth"
)

// API is what every bundled framework's REST API serves beside its own
// routes (DESIGN §1): liveness at GET /health, Prometheus metrics at GET
// /metrics, and HTTP Basic authentication when credentials are set.
type API struct {
	// FrameworkID is reported by /health (empty until subscribed).
	FrameworkID func() string
	// Metrics are the framework's own; Gatherer's (which may be nil) are
	// served after them.
	Metrics  prometheus.Collector
	Gatherer prometheus.Gatherer
	// Credentials, if set, are required on every path but /health and
	// Open: probes must not need a secret.
	Credentials auth.Credentials
	Open        []string
}

// Handler adds /health and /metrics to mux and returns it behind the
// API's authentication.
func (a API) Handler(mux *http.ServeMux) http.Handler {
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"healthy": true, "framework_id": a.FrameworkID()})
	})
	own := prometheus.NewRegistry()
	own.MustRegister(a.Metrics)
	gatherers := prometheus.Gatherers{own}
	if a.Gatherer != nil {
		gatherers = append(gatherers, a.Gatherer)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{}))
	if a.Credentials != nil {
		return auth.RequireExcept(a.Credentials, "corral", mux, append([]string{"/health"}, a.Open...)...)
	}
	return mux
}
