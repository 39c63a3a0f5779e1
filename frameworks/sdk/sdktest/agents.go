package sdktest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

type runningAgent struct {
	cancel  context.CancelFunc
	done    chan error
	srv     *http.Server
	link    *link
	stopped bool
}

// stop ends the agent's loop and its HTTP server; its tasks keep running.
func (ra *runningAgent) stop() {
	if ra.stopped {
		return
	}
	ra.stopped = true
	ra.cancel()
	<-ra.done
	_ = ra.srv.Close()
}

func (l *link) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// AddAgent starts another agent, named after i, with its own work dir and
// port, and appends it to Agents. It does not wait for it to register.
func (c *Cluster) AddAgent(i int) (*agent.Agent, error) { return c.addAgent(i, "127.0.0.1:0", false) }

func (c *Cluster) addAgent(i int, addr string, cut bool) (*agent.Agent, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sdktest: agent listener: %w", err)
	}
	cfg := agent.Config{
		Master:            c.MasterAddr,
		Addr:              ln.Addr().String(),
		Hostname:          fmt.Sprintf("agent-%d", i),
		WorkDir:           filepath.Join(c.opts.WorkDir, fmt.Sprintf("agent-%d", i)),
		Resources:         c.opts.AgentResources,
		Attributes:        fmt.Sprintf("host:agent-%d", i),
		Isolation:         c.opts.Isolation,
		StatusUpdateRetry: time.Second,
		RegisterBackoff:   50 * time.Millisecond,
		Logger:            c.opts.Logger,
	}
	if c.opts.Agent != nil {
		c.opts.Agent(i, &cfg)
	}
	// The agent's client, whoever made it, goes through the link: that is
	// where a partition cuts.
	client := &http.Client{}
	if cfg.HTTPClient != nil {
		*client = *cfg.HTTPClient
	}
	base := client.Transport
	if base == nil {
		base = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, TLSClientConfig: cfg.MasterTLS}
	}
	l := newLink(base)
	l.setCut(cut)
	client.Transport = l
	cfg.HTTPClient = client
	a, err := agent.New(cfg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("sdktest: %w", err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	ra := &runningAgent{cancel: cancel, done: make(chan error, 1), link: l}
	ra.srv = c.serve(ln, a.Handler())
	go func() { ra.done <- a.Run(ctx) }()
	c.Agents = append(c.Agents, a)
	c.agents = append(c.agents, ra)
	return a, nil
}

// StopAgent stops agent i's process-level parts (its loop, its stream to
// the master, its HTTP server) without killing its tasks, as a crash or an
// upgrade would. RestartAgent brings it back.
func (c *Cluster) StopAgent(i int) { c.agents[i].stop() }

// RestartAgent starts a new agent with agent i's work dir and address
// (executors reconnect to it there), as a restarted agent process would
// be, and waits for it to register. A partition of agent i outlasts the
// restart.
func (c *Cluster) RestartAgent(i int) (*agent.Agent, error) {
	old := c.agents[i]
	old.stop()
	cut := old.link.isCut()
	old.link.kill() // calls the old agent left in flight fail now
	a, err := c.addAgent(i, c.Agents[i].Addr(), cut)
	if err != nil {
		// The port was taken meanwhile: any port will do for the others.
		if a, err = c.addAgent(i, "127.0.0.1:0", cut); err != nil {
			return nil, err
		}
	}
	n := len(c.Agents) - 1
	c.Agents[i], c.agents[i] = a, c.agents[n]
	c.Agents, c.agents = c.Agents[:n], c.agents[:n]
	if cut {
		return a, nil
	}
	if err := poll(registerTimeout, func() bool { return a.ID() != "" && a.Connected() }); err != nil {
		return nil, fmt.Errorf("sdktest: restarted agent %d did not register within %v", i, registerTimeout)
	}
	return a, nil
}

// Partition cuts agent i off from the master: its stream breaks and its
// calls are held, while its tasks run on. The master sees it disconnected
// at once and, after two seconds of silence, unreachable: its tasks become
// TASK_UNREACHABLE to partition-aware frameworks (TASK_LOST to others).
func (c *Cluster) Partition(i int) { c.agents[i].link.setCut(true) }

// Heal ends agent i's partition. The calls it held go through and it
// re-registers with its tasks, which the master reports to their
// frameworks again; it does not wait for that.
func (c *Cluster) Heal(i int) { c.agents[i].link.setCut(false) }

// RemoveAgent takes agent i out of the cluster for good, as a machine
// that died and was decommissioned: its tasks are killed without a word
// reaching the master, the agent stops, and an operator marks it gone, so
// frameworks hear TASK_GONE_BY_OPERATOR (TASK_LOST if not partition-aware)
// for the tasks it had. Agents keeps its slot.
func (c *Cluster) RemoveAgent(ctx context.Context, i int) error {
	ra, a := c.agents[i], c.Agents[i]
	if ra.stopped {
		return fmt.Errorf("sdktest: agent %d is stopped; restart it before removing it, so that its tasks can be killed", i)
	}
	ra.link.setCut(true)
	if err := a.Shutdown(ctx); err != nil {
		return fmt.Errorf("sdktest: removing agent %d: %w", i, err)
	}
	ra.link.kill()
	ra.stop()
	_, err := c.Operator(ctx, &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String(a.ID())}}})
	if err != nil {
		return fmt.Errorf("sdktest: marking agent %d gone: %w", i, err)
	}
	return nil
}
