package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/internal/promreg"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/master/allocator"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Core is the master's state machine. Every method is called from one
// goroutine at a time (the transport's loop, or a test stepping it); there
// are no locks. What it decides leaves it as results, as events pushed to
// subscribers' Streams, as registry writes to Config.Store, and as
// functions handed to Options.Post that must later run on that same
// goroutine (timers).
type Core struct {
	cfg  Config
	log  *slog.Logger
	id   string
	info *mesospb.MasterInfo
	// term prefixes the IDs this master instance hands out (frameworks,
	// agents, offers). It is new for every instance, so that a master that
	// leads again under the same ID never reissues an ID of an earlier term.
	term string

	st    *state
	alloc *allocator.Allocator
	rng   *rand.Rand
	// postFn queues work for the goroutine that steps the core (Options.Post).
	postFn    func(func())
	startedAt time.Time
	// deposed is closed (once, by depose) when a registry write was fenced:
	// a newer master holds the registry, and this one must stop at once.
	// deposedBy is set before and read after the close.
	deposed    chan struct{}
	deposeOnce sync.Once
	deposedBy  error

	metrics *metrics
	logging *logControl
}

// Options are what the core needs from whoever steps it.
type Options struct {
	// Post queues fn to run on the goroutine that steps the core; timers
	// (offer and failover timeouts) use it. It must not run fn at once:
	// it is called while the core is being stepped.
	Post func(fn func())
}

// New validates cfg and returns a core ready to Start.
func New(cfg Config, opts Options) (*Core, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if opts.Post == nil {
		return nil, errors.New("master: core: Options.Post is required")
	}
	id := cfg.ID
	if id == "" {
		id = uuid.New().String()
	}
	info, err := masterInfo(id, cfg.Addr)
	if err != nil {
		return nil, err
	}
	reg, _ := promreg.Resolve(cfg.Registerer)
	m := &Core{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "master"),
		id:   id,
		info: info,
		term: uuid.New().String(),
		st:   newState(),
		alloc: allocator.New(allocator.Options{
			MinAllocatable: cfg.MinAllocatable, FairShareExcluded: cfg.FairShareExcluded,
			RoleSorter: cfg.RoleSorter, FrameworkSorter: cfg.FrameworkSorter,
		}),
		rng:       rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x636f7272616c)),
		postFn:    opts.Post,
		deposed:   make(chan struct{}),
		startedAt: time.Now(),
		logging:   newLogControl(cfg.LogLevel),
	}
	m.metrics, err = newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Config is the configuration the core runs with, defaults filled in.
func (m *Core) Config() Config { return m.cfg }

// ID is this master's unique ID (MasterInfo.id).
func (m *Core) ID() string { return m.id }

// Info returns a copy of this master's MasterInfo.
func (m *Core) Info() *mesospb.MasterInfo { return proto.CloneOf(m.info) }

// post runs fn on the core's goroutine later; see Options.Post.
func (m *Core) post(fn func(*state)) {
	m.postFn(func() { fn(m.st) })
}

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

// Start takes the registry's fence and recovers the registry. The core
// answers nothing before it returns: it serves nothing it might have to
// take back.
func (m *Core) Start(ctx context.Context) error {
	if err := m.takeFence(ctx); err != nil {
		return err
	}
	if err := m.recover(ctx, m.st); err != nil {
		return err
	}
	if err := m.deposedErr(); err != nil {
		m.Shutdown() // a write while recovering was fenced
		return err
	}
	m.log.Info("master started", "id", m.id, "addr", m.cfg.Addr)
	return nil
}

// Deposed is closed once a registry write was fenced: a newer master
// leads, and this one must stop stepping the core (DeposedErr says why).
func (m *Core) Deposed() <-chan struct{} { return m.deposed }

// DeposedErr is nil until the core is deposed.
func (m *Core) DeposedErr() error { return m.deposedErr() }

// Settle runs after a batch of calls: it answers agent admissions whose
// registry write is done and runs the allocation round the calls asked for.
// Calling it once for many calls makes a burst (say, many status updates
// freeing resources) cost one allocation round rather than one per call.
func (m *Core) Settle() {
	if m.isDeposed() {
		return // no offer, admission or write more: a newer master leads
	}
	m.flushAdmissions(m.st)
	if m.st.allocationPending {
		m.allocate(m.st)
	}
}

// Tick runs every AllocationInterval: it expires silent agents and asks
// for a full allocation round so that expired filters are noticed.
func (m *Core) Tick() {
	s := m.st
	now := m.cfg.Now()
	var lost []unreachable
	for _, a := range s.agents {
		switch {
		case a.health == agentUnreachable:
		case !a.reregisterBy.IsZero():
			if now.After(a.reregisterBy) {
				lost = append(lost, unreachable{a, fmt.Sprintf("agent did not re-register within %v", m.cfg.AgentReregisterTimeout)})
			}
		case m.cfg.AgentClock().Sub(a.heardFrom()) > m.cfg.agentSilenceLimit():
			lost = append(lost, unreachable{a, fmt.Sprintf("agent missed %d pings in a row (%v each)", m.cfg.MaxAgentPingTimeouts, m.cfg.AgentPingTimeout)})
		}
	}
	m.markAllUnreachable(s, lost)
	s.requestFullRound()
}

// Shutdown closes every stream and stops the core's timers; tasks keep
// running on their agents.
func (m *Core) Shutdown() {
	s := m.st
	for _, f := range s.frameworks {
		if f.conn != nil {
			f.conn.out.Close("master stopped")
		}
		if f.failoverTimer != nil {
			f.failoverTimer.Stop()
		}
	}
	for _, a := range s.agents {
		if a.conn != nil {
			a.conn.out.Close("master stopped")
		}
	}
	for _, adm := range s.admissions {
		adm.conn.out.Close("master stopped")
	}
	for _, o := range s.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	m.log.Info("master stopped", "id", m.id)
}

// Gauges reads the state's gauges for a Prometheus scrape.
func (m *Core) Gauges() []prometheus.Metric { return collectGauges(m.st) }
