// Package testcluster starts a real corral cluster inside the current
// process: a master and agents, each serving real HTTP on its own loopback
// port, as httptest does for a single handler. Integration tests, examples
// and benchmarks use it; it is not a fake of anything.
package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/master"
)

// Options shape a cluster.
type Options struct {
	Agents         int    // default 1
	AgentResources string // default "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
	// WorkDir holds the agents' work dirs; required by New, a temp dir in
	// Start.
	WorkDir string
	// Master and Agent adjust each component's config before it starts.
	Master func(*master.Config)
	Agent  func(i int, c *agent.Config)
	Logger *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	MasterAddr string // 127.0.0.1:port
	MasterURL  string // http://127.0.0.1:port
	Master     *master.Master
	Agents     []*agent.Agent

	opts    Options
	servers []*http.Server
	agents  []*runningAgent
	cancel  context.CancelFunc
	done    chan struct{}
	ctx     context.Context
}

type runningAgent struct {
	cancel context.CancelFunc
	done   chan error
	srv    *http.Server
}

// New starts a cluster and waits until every agent has registered.
func New(opts Options) (*Cluster, error) {
	if opts.Agents == 0 {
		opts.Agents = 1
	}
	if opts.AgentResources == "" {
		opts.AgentResources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WorkDir == "" {
		return nil, errors.New("testcluster: WorkDir is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{opts: opts, cancel: cancel, done: make(chan struct{}), ctx: ctx}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("testcluster: master listener: %w", err)
	}
	c.MasterAddr = ln.Addr().String()
	c.MasterURL = "http://" + c.MasterAddr
	mcfg := master.Config{
		Addr:         c.MasterAddr,
		WorkDir:      filepath.Join(opts.WorkDir, "master"),
		OfferTimeout: 0,
		Logger:       opts.Logger,
	}
	if opts.Master != nil {
		opts.Master(&mcfg)
	}
	c.Master, err = master.New(mcfg)
	if err != nil {
		cancel()
		ln.Close()
		return nil, err
	}
	go func() { _ = c.Master.Run(ctx); close(c.done) }()
	c.serve(ln, c.Master.Handler())
	for i := range opts.Agents {
		if _, err := c.AddAgent(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range c.Agents {
		for a.ID() == "" {
			if time.Now().After(deadline) {
				c.Close()
				return nil, errors.New("testcluster: agents did not register within 30s")
			}
			time.Sleep(5 * time.Millisecond) // polling for registration
		}
	}
	return c, nil
}

func (c *Cluster) serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	c.servers = append(c.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// AddAgent starts agent i with its own work dir and port.
func (c *Cluster) AddAgent(i int) (*agent.Agent, error) { return c.addAgent(i, "127.0.0.1:0") }

func (c *Cluster) addAgent(i int, addr string) (*agent.Agent, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testcluster: agent listener: %w", err)
	}
	cfg := agent.Config{
		Master:            c.MasterAddr,
		Addr:              ln.Addr().String(),
		Hostname:          fmt.Sprintf("agent-%d", i),
		WorkDir:           filepath.Join(c.opts.WorkDir, fmt.Sprintf("agent-%d", i)),
		Resources:         c.opts.AgentResources,
		Attributes:        fmt.Sprintf("host:agent-%d", i),
		StatusUpdateRetry: time.Second,
		RegisterBackoff:   50 * time.Millisecond,
		Logger:            c.opts.Logger,
	}
	if c.opts.Agent != nil {
		c.opts.Agent(i, &cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	ra := &runningAgent{cancel: cancel, done: make(chan error, 1)}
	ra.srv = c.serve(ln, a.Handler())
	go func() { ra.done <- a.Run(ctx) }()
	c.Agents = append(c.Agents, a)
	c.agents = append(c.agents, ra)
	return a, nil
}

// StopAgent stops agent i's process-level parts (its loop, stream and
// HTTP server) without killing its tasks, as a crash or upgrade would.
func (c *Cluster) StopAgent(i int) {
	ra := c.agents[i]
	ra.cancel()
	ra.done <- <-ra.done // Close waits for it again if it is not restarted
	_ = ra.srv.Close()
}

// RestartAgent starts a new agent with agent i's work dir and address
// (executors reconnect to it there), as a restarted agent process would
// be, and waits for it to register.
func (c *Cluster) RestartAgent(i int) (*agent.Agent, error) {
	a, err := c.addAgent(i, c.Agents[i].Addr())
	if err != nil {
		// The port was taken meanwhile: any port will do for the others.
		if a, err = c.AddAgent(i); err != nil {
			return nil, err
		}
	}
	n := len(c.Agents) - 1
	c.Agents[i], c.agents[i] = a, c.agents[n]
	c.Agents, c.agents = c.Agents[:n], c.agents[:n]
	for deadline := time.Now().Add(30 * time.Second); a.ID() == "" || !registered(a); {
		if time.Now().After(deadline) {
			return nil, errors.New("testcluster: restarted agent did not register within 30s")
		}
		time.Sleep(5 * time.Millisecond) // polling for registration
	}
	return a, nil
}

// registered reports whether the agent is subscribed now (its /state says
// connected), not merely holding a checkpointed ID.
func registered(a *agent.Agent) bool { return a.Connected() }

// Close kills every task, then stops the agents and the master.
func (c *Cluster) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range c.Agents {
		_ = a.Shutdown(ctx)
	}
	for _, ra := range c.agents {
		ra.cancel()
		<-ra.done
	}
	c.cancel()
	<-c.done
	for _, s := range c.servers {
		_ = s.Close()
	}
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
	Logf(format string, args ...any)
}

// Start starts a cluster for a test and stops it when the test ends. Logs
// go to the test log when CORRAL_TEST_LOG is set.
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
