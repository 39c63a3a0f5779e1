package master

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/internal/promreg"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/master/allocator"
	"github.com/corral-sched/corral/master/webui"
	"github.com/corral-sched/corral/proto/mesospb"
)

// errStopped answers requests that arrive after the loop has stopped.
var errStopped = errors.New("master is not running")

// Master is a corral master. Create it with New, serve Handler, and run Run.
type Master struct {
	cfg  Config
	log  *slog.Logger
	id   string
	info *mesospb.MasterInfo
	// term prefixes the IDs this master instance hands out (frameworks,
	// agents, offers). It is new for every instance, so that a master that
	// leads again under the same ID never reissues an ID of an earlier term.
	term string

	// inbox carries work for the loop goroutine, the only one that touches
	// st. Every message is a function run there.
	inbox   chan func(*state)
	st      *state
	alloc   *allocator.Allocator
	rng     *rand.Rand
	running atomic.Bool
	// recovered is set once the registry is loaded; until then every API
	// answers 503 rather than data the registry might contradict.
	recovered atomic.Bool
	stopped   chan struct{}
	startedAt time.Time
	// deposed is closed (once, by depose) when a registry write was fenced:
	// a newer master holds the registry, and this one must stop at once.
	// deposedBy is set before and read after the close.
	deposed    chan struct{}
	deposeOnce sync.Once
	deposedBy  error

	metrics  *metrics
	gatherer prometheus.Gatherer
	logging  *logControl
}

// New validates cfg and returns a master ready to Run.
func New(cfg Config) (*Master, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	id := cfg.ID
	if id == "" {
		id = uuid.New().String()
	}
	info, err := masterInfo(id, cfg.Addr)
	if err != nil {
		return nil, err
	}
	reg, gatherer := promreg.Resolve(cfg.Registerer)
	m := &Master{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "master"),
		id:    id,
		info:  info,
		term:  uuid.New().String(),
		inbox: make(chan func(*state), 1024),
		st:    newState(),
		alloc: allocator.New(allocator.Options{
			MinAllocatable: cfg.MinAllocatable, FairShareExcluded: cfg.FairShareExcluded,
			RoleSorter: cfg.RoleSorter, FrameworkSorter: cfg.FrameworkSorter,
		}),
		rng:       rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x636f7272616c)),
		stopped:   make(chan struct{}),
		deposed:   make(chan struct{}),
		gatherer:  gatherer,
		startedAt: time.Now(),
		logging:   newLogControl(cfg.LogLevel),
	}
	m.metrics, err = newMetrics(m, reg)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ID is this master's unique ID (MasterInfo.id).
func (m *Master) ID() string { return m.id }

// Info returns a copy of this master's MasterInfo.
func (m *Master) Info() *mesospb.MasterInfo { return proto.CloneOf(m.info) }

func masterInfo(id, addr string) (*mesospb.MasterInfo, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("master: advertised address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("master: advertised port %q: %w", portText, err)
	}
	var ip uint32
	ipText := ""
	if parsed := net.ParseIP(host); parsed != nil {
		ipText = parsed.String()
		if v4 := parsed.To4(); v4 != nil {
			// Mesos stores the IPv4 address in network byte order inside a
			// uint32, i.e. the bytes as they appear in memory.
			ip = binary.LittleEndian.Uint32(v4)
		}
	}
	return &mesospb.MasterInfo{
		Id:       proto.String(id),
		Ip:       proto.Uint32(ip),
		Port:     proto.Uint32(uint32(port)),
		Hostname: proto.String(host),
		Version:  proto.String(version.Version),
		Pid:      proto.String("master@" + addr),
		Address: &mesospb.Address{
			Hostname: proto.String(host),
			Ip:       optionalString(ipText),
			Port:     proto.Int32(int32(port)),
		},
	}, nil
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Run runs the master's state loop until ctx is done. Streams are closed
// when it returns; tasks keep running on their agents.
func (m *Master) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("master: Run called twice")
	}
	defer close(m.stopped)
	if err := m.takeFence(ctx); err != nil {
		return err
	}
	// The API answers 503 while the registry is read: the master serves
	// nothing it might have to take back.
	if err := m.recover(ctx, m.st); err != nil {
		return err
	}
	if err := m.deposedErr(); err != nil {
		m.shutdown() // a write while recovering was fenced
		return err
	}
	m.recovered.Store(true)
	m.log.Info("master started", "id", m.id, "addr", m.cfg.Addr)
	tick := time.NewTicker(m.cfg.AllocationInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case <-m.deposed:
		case fn := <-m.inbox:
			fn(m.st)
			m.drainInbox()
		case <-tick.C:
			m.periodic(m.st)
		}
		if err := m.deposedErr(); err != nil {
			// No offer, admission or write more: a newer master leads.
			m.shutdown()
			return err
		}
		m.flushAdmissions(m.st)
		if m.st.allocationPending {
			m.allocate(m.st)
		}
	}
}

// drainInbox handles what is already queued before allocating, so that a
// burst of calls (say, many status updates freeing resources) leads to one
// allocation round rather than one per message.
func (m *Master) drainInbox() {
	for range cap(m.inbox) {
		if m.isDeposed() {
			return // checked first: a select would pick among ready cases at random
		}
		select {
		case fn := <-m.inbox:
			fn(m.st)
		default:
			return
		}
	}
}

// do runs fn on the loop and waits for it to finish.
func (m *Master) do(ctx context.Context, fn func(*state)) error {
	done := make(chan struct{})
	select {
	case m.inbox <- func(s *state) { fn(s); close(done) }:
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

// post runs fn on the loop without waiting; timers and stream goroutines use
// it. It gives up if the master stopped.
func (m *Master) post(fn func(*state)) {
	select {
	case m.inbox <- fn:
	case <-m.stopped:
	}
}

// periodic runs on every allocation tick: it expires silent agents and
// forces an allocation round so that expired filters are noticed.
func (m *Master) periodic(s *state) {
	now := m.cfg.Now()
	var lost []unreachable
	for _, a := range s.agents {
		switch {
		case a.health == agentUnreachable:
		case !a.reregisterBy.IsZero():
			if now.After(a.reregisterBy) {
				lost = append(lost, unreachable{a, fmt.Sprintf("agent did not re-register within %v", m.cfg.AgentReregisterTimeout)})
			}
		case m.cfg.AgentClock().Sub(a.lastSeen) > m.cfg.agentSilenceLimit():
			lost = append(lost, unreachable{a, fmt.Sprintf("agent missed %d pings in a row (%v each)", m.cfg.MaxAgentPingTimeouts, m.cfg.AgentPingTimeout)})
		}
	}
	m.markAllUnreachable(s, lost)
	s.requestFullRound()
}

func (m *Master) shutdown() {
	s := m.st
	for _, f := range s.frameworks {
		if f.conn != nil {
			f.conn.out.close("master stopped")
		}
		if f.failoverTimer != nil {
			f.failoverTimer.Stop()
		}
	}
	for _, a := range s.agents {
		if a.conn != nil {
			a.conn.out.close("master stopped")
		}
	}
	for _, adm := range s.admissions {
		adm.conn.out.close("master stopped")
	}
	for _, o := range s.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	m.log.Info("master stopped", "id", m.id)
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
		fmt.Fprintf(w, "{\"healthy\":false,\"id\":%q}\n", m.id)
		return
	}
	fmt.Fprintf(w, "{\"healthy\":true,\"leader\":true,\"id\":%q,\"version\":%q}\n", m.id, version.Version)
}
