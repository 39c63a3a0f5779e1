package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/internal/promreg"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/master/webui"
	"github.com/corral-sched/corral/proto/mesospb"
)

// errStopped answers requests that arrive after the loop has stopped.
var errStopped = errors.New("master is not running")

// Master is a corral master. Create it with New, serve Handler, and run Run.
type Master struct {
	cfg  Config // with defaults, as the core runs with it
	log  *slog.Logger
	core *core.Core

	// inbox carries work for the loop goroutine, the only one that steps
	// the core.
	inbox   chan func()
	running atomic.Bool
	// recovered is set once the registry is loaded; until then every API
	// answers 503 rather than data the registry might contradict.
	recovered atomic.Bool
	stopped   chan struct{}

	metrics  *metrics
	gatherer prometheus.Gatherer

	// agentStreams are the connected agents' event streams by stream ID
	// (*agentStream), for the pongs answered off the loop.
	agentStreams sync.Map
	// admitting bounds the agent registrations handled at once (see
	// maxAdmitting); admissionsWaiting counts those waiting for a slot.
	admitting         chan struct{}
	admissionsWaiting atomic.Int64
}

// New validates cfg and returns a master ready to Run.
func New(cfg Config) (*Master, error) {
	reg, gatherer := promreg.Resolve(cfg.Registerer)
	cfg.Registerer = reg
	m := &Master{
		inbox:     make(chan func(), 1024),
		admitting: make(chan struct{}, maxAdmitting),
		stopped:   make(chan struct{}),
		gatherer:  gatherer,
	}
	c, err := core.New(cfg, core.Options{Post: m.postFunc})
	if err != nil {
		return nil, err
	}
	m.core, m.cfg = c, c.Config()
	m.log = m.cfg.Logger.With("component", "master")
	if m.metrics, err = newMetrics(m, reg); err != nil {
		return nil, err
	}
	return m, nil
}

// ID is this master's unique ID (MasterInfo.id).
func (m *Master) ID() string { return m.core.ID() }

// Info returns a copy of this master's MasterInfo.
func (m *Master) Info() *mesospb.MasterInfo { return m.core.Info() }

// Run runs the master's state loop until ctx is done. Streams are closed
// when it returns; tasks keep running on their agents.
func (m *Master) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("master: Run called twice")
	}
	defer close(m.stopped)
	// The API answers 503 while the registry is read.
	if err := m.core.Start(ctx); err != nil {
		return err
	}
	m.recovered.Store(true)
	tick := time.NewTicker(m.cfg.AllocationInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.core.Shutdown()
			return nil
		case <-m.core.Deposed():
		case fn := <-m.inbox:
			fn()
			m.drainInbox()
		case <-tick.C:
			m.core.Tick()
		}
		if err := m.core.DeposedErr(); err != nil {
			// No offer, admission or write more: a newer master leads.
			m.core.Shutdown()
			return err
		}
		m.core.Settle()
	}
}

// drainInbox handles what is already queued before Settle allocates, so
// that a burst of calls leads to one allocation round rather than one per
// message.
func (m *Master) drainInbox() {
	for range cap(m.inbox) {
		if m.core.DeposedErr() != nil {
			return // checked first: a select would pick among ready cases at random
		}
		select {
		case fn := <-m.inbox:
			fn()
		default:
			return
		}
	}
}

// do runs fn on the loop and waits for it to finish.
func (m *Master) do(ctx context.Context, fn func(*core.Core)) error {
	done := make(chan struct{})
	select {
	case m.inbox <- func() { fn(m.core); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopped:
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-m.stopped:
		return errStopped
	}
}

// post runs fn on the loop without waiting; stream goroutines use it. It
// gives up if the master stopped.
func (m *Master) post(fn func(*core.Core)) {
	m.postFunc(func() { fn(m.core) })
}

// postFunc is the core's Options.Post: its timers run on the loop.
func (m *Master) postFunc(fn func()) {
	select {
	case m.inbox <- fn:
	case <-m.stopped:
	}
}

// Handler serves the master's HTTP endpoints.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	frameworks := m.authenticated(m.cfg.AuthenticateFrameworks)
	operators := m.authenticated(m.cfg.AuthenticateHTTP)
	mux.Handle("/api/v1/scheduler", frameworks(m.whenRecovered(m.serveScheduler)))
	mux.Handle("/master/api/v1/scheduler", frameworks(m.whenRecovered(m.serveScheduler)))
	mux.Handle("/api/v1", operators(m.whenRecovered(m.serveOperator)))
	mux.Handle("/master/api/v1", operators(m.whenRecovered(m.serveOperator)))
	mux.Handle("/api/v1/agent", m.authenticated(m.cfg.AuthenticateAgents)(m.whenRecovered(m.serveAgent)))
	mux.HandleFunc("GET /health", m.serveHealth)
	mux.Handle("GET /metrics", operators(m.cfg.ACLs.Endpoint("/metrics", promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{}))))
	mux.Handle("/", operators(webui.Handler())) // the web UI; the routes above are more specific and win
	return mux
}

// authenticated wraps handlers in HTTP Basic authentication when on.
func (m *Master) authenticated(on bool) func(http.Handler) http.Handler {
	if !on {
		return func(h http.Handler) http.Handler { return h }
	}
	return func(h http.Handler) http.Handler { return auth.Require(m.cfg.Credentials, "corral", h) }
}

// whenRecovered answers 503 until the registry is recovered.
func (m *Master) whenRecovered(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.recovered.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Master is recovering its registry; retry shortly", http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	})
}

func (m *Master) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	running := m.running.Load()
	select {
	case <-m.stopped:
		running = false
	default:
	}
	if !running {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "{\"healthy\":false,\"id\":%q}\n", m.ID())
		return
	}
	fmt.Fprintf(w, "{\"healthy\":true,\"leader\":true,\"id\":%q,\"version\":%q}\n", m.ID(), version.Version)
}

// httpStatuses answer the core's Results.
var httpStatuses = map[core.Code]int{
	core.OK:              http.StatusOK,
	core.Accepted:        http.StatusAccepted,
	core.BadRequest:      http.StatusBadRequest,
	core.Forbidden:       http.StatusForbidden,
	core.NotFound:        http.StatusNotFound,
	core.Conflict:        http.StatusConflict,
	core.TooManyRequests: http.StatusTooManyRequests,
	core.Unavailable:     http.StatusServiceUnavailable,
	core.NotImplemented:  http.StatusNotImplemented,
}

// httpStatus is the HTTP status that answers a core.Result's code.
func httpStatus(c core.Code) int {
	if status, ok := httpStatuses[c]; ok {
		return status
	}
	return http.StatusInternalServerError
}
