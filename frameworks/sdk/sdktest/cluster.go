package sdktest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/store"
)

// Options shape a cluster. The zero value is one posix agent.
type Options struct {
	// Agents is how many agents start; default 1. Agent i is named
	// agent-i (its hostname) and has the attribute host:agent-i.
	Agents int
	// AgentResources is every agent's --resources; default
	// "cpus:4;mem:4096;disk:10000;ports:[31000-32000]".
	AgentResources string
	// Isolation is the agents' --isolation: "posix" (default; tasks are
	// real processes) or "sim" (nothing is forked: a task "sleep N" runs
	// for N seconds and exits 0, any other runs until killed).
	Isolation string
	// WorkDir holds the registry and the agents' work dirs. Start uses
	// the test's temporary directory; New makes one and Close removes it.
	WorkDir string
	// DisableObserver turns off recording the scheduler API traffic, and
	// with it the assertions, DropUpdates and DelayUpdates: for load tests,
	// where decoding every event would cost.
	DisableObserver bool
	// OperatorPrincipal and OperatorSecret are the credentials of the
	// kit's own operator calls (Operator, RescindOffers, RemoveAgent) when
	// the master authenticates HTTP.
	OperatorPrincipal, OperatorSecret string
	// Master and Agent adjust each component's config after the kit has
	// filled it in, so what they set wins. Master runs again for the new
	// master of every FailOver.
	Master func(*master.Config)
	// Agent adjusts agent i's config; it runs again when RestartAgent
	// starts agent i anew.
	Agent func(i int, c *agent.Config)
	// Logger receives every component's logs; default none.
	Logger *slog.Logger
}

// The kit's settings for the master, chosen for tests: a partitioned agent
// is unreachable after AgentPingTimeout × MaxAgentPingTimeouts (short for a
// test, yet long enough that a loaded machine's pauses do not look like
// partitions), and filters that Advance expired are noticed within one
// allocation interval.
const (
	defaultAgentResources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
	agentPingTimeout      = 250 * time.Millisecond
	maxAgentPingTimeouts  = 8
	allocationInterval    = 100 * time.Millisecond
	registerTimeout       = 30 * time.Second
)

// Cluster is a running cluster. Its methods are for the test's goroutine:
// they are not safe for concurrent use with each other, except the
// assertions, which are.
type Cluster struct {
	MasterAddr string // 127.0.0.1:port, the same across FailOver
	MasterURL  string // http://127.0.0.1:port
	// Master is the leading master; FailOver replaces it.
	Master *master.Master
	// Agents are the agents by index; RestartAgent replaces one.
	Agents []*agent.Agent
	// Clock is the master's clock; Advance moves it.
	Clock *Clock

	opts      Options
	ownDir    bool
	ctx       context.Context
	cancel    context.CancelFunc
	registry  *store.Local
	traffic   *traffic
	leader    atomic.Pointer[runningMaster]
	agents    []*runningAgent
	servers   []*http.Server
	client    *http.Client
	closeOnce sync.Once
}

type runningMaster struct {
	m      *master.Master
	h      http.Handler
	cancel context.CancelFunc
	done   chan error
}

// New starts a cluster and waits until every agent has registered.
func New(opts Options) (*Cluster, error) {
	if opts.Agents < 0 {
		return nil, fmt.Errorf("sdktest: Options.Agents is %d, want 0 or more", opts.Agents)
	}
	if opts.Agents == 0 {
		opts.Agents = 1
	}
	if opts.AgentResources == "" {
		opts.AgentResources = defaultAgentResources
	}
	if opts.Isolation == "" {
		opts.Isolation = "posix"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: opts, Clock: newClock(), client: &http.Client{Transport: &http.Transport{Proxy: nil}}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.start(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start() error {
	if c.opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "sdktest-")
		if err != nil {
			return fmt.Errorf("sdktest: work dir: %w", err)
		}
		c.opts.WorkDir, c.ownDir = dir, true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("sdktest: master listener: %w", err)
	}
	c.MasterAddr = ln.Addr().String()
	c.MasterURL = "http://" + c.MasterAddr
	if c.registry, err = store.OpenLocal(filepath.Join(c.opts.WorkDir, "registry")); err != nil {
		ln.Close()
		return fmt.Errorf("sdktest: registry: %w", err)
	}
	if !c.opts.DisableObserver {
		c.traffic = newTraffic()
	}
	rm, err := c.startMaster()
	if err != nil {
		ln.Close()
		return err
	}
	c.leader.Store(rm)
	c.Master = rm.m
	c.serve(ln, http.HandlerFunc(c.serveMaster))
	for i := range c.opts.Agents {
		if _, err := c.AddAgent(i); err != nil {
			return err
		}
	}
	return c.waitAgents("to register", func(a *agent.Agent) bool { return a.ID() != "" })
}

// startMaster starts a master on the registry and the kit's front address.
func (c *Cluster) startMaster() (*runningMaster, error) {
	cfg := master.Config{
		Addr:                 c.MasterAddr,
		WorkDir:              filepath.Join(c.opts.WorkDir, "master"),
		Store:                c.registry,
		Now:                  c.Clock.Now,
		AfterFunc:            c.Clock.AfterFunc,
		AgentClock:           time.Now,
		AgentPingTimeout:     agentPingTimeout,
		MaxAgentPingTimeouts: maxAgentPingTimeouts,
		AllocationInterval:   allocationInterval,
		Logger:               c.opts.Logger,
	}
	if c.opts.Master != nil {
		c.opts.Master(&cfg)
	}
	m, err := master.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("sdktest: %w", err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	rm := &runningMaster{m: m, h: m.Handler(), cancel: cancel, done: make(chan error, 1)}
	go func() { rm.done <- m.Run(ctx) }()
	return rm, nil
}

// serveMaster is the master's address: whichever master leads answers,
// and scheduler API traffic passes the observer on its way.
func (c *Cluster) serveMaster(w http.ResponseWriter, r *http.Request) {
	h := c.leader.Load().h
	if c.traffic != nil && (r.URL.Path == "/api/v1/scheduler" || r.URL.Path == "/master/api/v1/scheduler") {
		c.traffic.serve(w, r, h)
		return
	}
	h.ServeHTTP(w, r)
}

func (c *Cluster) serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	c.servers = append(c.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// FailOver replaces the leading master with a new one on the same
// registry and address, as a leader's crash and its successor's election
// would: the new master takes the registry (fencing the old one out),
// recovers from it, and the old one stops, closing every stream.
// Frameworks re-subscribe and agents re-register with their tasks.
// FailOver returns once every running, connected agent has re-registered.
func (c *Cluster) FailOver() error {
	old := c.leader.Load()
	next, err := c.startMaster()
	if err != nil {
		return err
	}
	c.leader.Store(next)
	c.Master = next.m
	old.cancel()
	<-old.done
	since := time.Now()
	return c.waitAgents("to re-register after the failover", func(a *agent.Agent) bool {
		return a.Connected() && a.SubscribedAt().After(since)
	})
}

// waitAgents waits until ok holds for every agent that is running and not
// partitioned, or the master stops.
func (c *Cluster) waitAgents(what string, ok func(*agent.Agent) bool) error {
	deadline := time.Now().Add(registerTimeout)
	for i := 0; i < len(c.Agents); {
		ra := c.agents[i]
		if ra.stopped || ra.link.isCut() || ok(c.Agents[i]) {
			i++
			continue
		}
		rm := c.leader.Load()
		select {
		case err := <-rm.done:
			rm.done <- err // for Close
			return fmt.Errorf("sdktest: the master stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sdktest: agent %d did not get %s within %v", i, what, registerTimeout)
		}
		time.Sleep(5 * time.Millisecond) // polling the agent, with a deadline
	}
	return nil
}

// Advance moves the master's clock forward by d: filters, offer timeouts
// and failover timeouts that d passes expire (filters at the master's next
// allocation round, within 100 ms).
func (c *Cluster) Advance(d time.Duration) { c.Clock.Advance(d) }

// Close kills every task, then stops the agents and the master. It is
// safe to call more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, ra := range c.agents {
			if !ra.stopped {
				_ = c.Agents[i].Shutdown(ctx)
			}
		}
		for _, ra := range c.agents {
			ra.link.kill()
			ra.stop()
		}
		if rm := c.leader.Load(); rm != nil {
			rm.cancel()
			<-rm.done
		}
		c.cancel()
		for _, s := range c.servers {
			_ = s.Close()
		}
		if c.registry != nil {
			_ = c.registry.Close()
		}
		if c.ownDir {
			_ = os.RemoveAll(c.opts.WorkDir)
		}
	})
}

// TB is the part of testing.TB the kit needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
	Logf(format string, args ...any)
}

// Start starts a cluster for a test and closes it when the test ends. With
// CORRAL_TEST_LOG set in the environment, every component logs to the
// test's log.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	if opts.Logger == nil && os.Getenv("CORRAL_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("starting a test cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

type testWriter struct{ t TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// Eventually polls cond until it holds, failing the test if a minute
// passes first; what says what was awaited.
func Eventually(t TB, what string, cond func() bool) {
	t.Helper()
	if err := poll(time.Minute, cond); err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

var errTimeout = errors.New("sdktest: timed out")

func poll(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	return nil
}
