package benchkit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/agent"
)

// AgentsOptions shape a set of in-process agents.
type AgentsOptions struct {
	Count int
	// Master is the master's host:port; Detector, if set, finds the
	// leader instead (ZooKeeper).
	Master    string
	Detector  agent.Detector
	Isolation string // sim, posix or linux
	Resources string
	Dir       string // each agent gets a work dir under it
	// RegisterBackoff is each agent's first reconnect delay.
	RegisterBackoff time.Duration
	// ShareClient gives every agent one HTTP/2 client (h2c, which corral's
	// servers accept): their event streams and calls multiplex over a few
	// connections instead of each agent holding its own, which is what
	// lets ten thousand agents fit in a process's file descriptors.
	ShareClient bool
	Logger      *slog.Logger
}

// Agents are agents running in this process.
type Agents struct {
	List    []*agent.Agent
	cancels []context.CancelFunc
	done    []chan struct{}
}

// FitsOwnClients reports whether n agents with a client each fit in this
// process's file descriptor limit: each holds its event stream and,
// while it sends calls, a few more connections.
func FitsOwnClients(n int) bool {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return n < 1000
	}
	return uint64(4*n+1024) <= lim.Cur
}

// StartAgents starts opts.Count agents. Each has a port number of its own
// in its AgentInfo but no listener: the master never dials agents, and
// thousands of listeners would only cost file descriptors.
func StartAgents(ctx context.Context, opts AgentsOptions) (*Agents, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RegisterBackoff <= 0 {
		opts.RegisterBackoff = 50 * time.Millisecond
	}
	as := &Agents{}
	var shared *http.Client
	if opts.ShareClient {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		shared = &http.Client{Transport: &http.Transport{Proxy: nil, Protocols: &protocols, IdleConnTimeout: 90 * time.Second}}
	}
	for i := range opts.Count {
		a, err := agent.New(agent.Config{
			Master: opts.Master, Detector: opts.Detector,
			Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+i%40000)),
			Hostname: fmt.Sprintf("%s-%d", opts.Isolation, i), WorkDir: filepath.Join(opts.Dir, fmt.Sprintf("agent-%d", i)),
			Resources: opts.Resources, Attributes: fmt.Sprintf("rack:r%d", i%10), Isolation: opts.Isolation,
			RegisterBackoff: opts.RegisterBackoff, DiskWatchInterval: time.Hour, HTTPClient: shared,
			Registerer: prometheus.NewRegistry(), Logger: opts.Logger,
		})
		if err != nil {
			as.Stop()
			return nil, fmt.Errorf("benchkit: agent %d: %w", i, err)
		}
		actx, cancel := context.WithCancel(ctx)
		ch := make(chan struct{})
		go func() { _ = a.Run(actx); close(ch) }()
		as.List, as.cancels, as.done = append(as.List, a), append(as.cancels, cancel), append(as.done, ch)
	}
	return as, nil
}

// Registered counts the agents subscribed to a master now.
func (as *Agents) Registered() int {
	n := 0
	for _, a := range as.List {
		if a.Connected() {
			n++
		}
	}
	return n
}

// WaitRegistered polls until every agent is registered or ctx ends.
func (as *Agents) WaitRegistered(ctx context.Context) error {
	for as.Registered() < len(as.List) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("benchkit: %d of %d agents registered: %w", as.Registered(), len(as.List), ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling for registration
		}
	}
	return nil
}

// Stop stops every agent and waits for them. Their tasks are left as
// they are (an agent's stop never kills work): kill them first.
func (as *Agents) Stop() {
	for i, c := range as.cancels {
		c()
		<-as.done[i]
	}
	as.cancels, as.done = nil, nil
}
