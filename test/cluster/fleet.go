package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/test/cluster/history"
)

// FleetOptions shape a Fleet.
type FleetOptions struct {
	Name string // also its node's name (default "fleet")
	// FailoverTimeout is the framework's failover_timeout in seconds
	// (default an hour).
	FailoverTimeout float64
	// Command is every task's shell command (default a long sleep).
	Command string
}

// Fleet is a framework that records everything it does and hears in the
// cluster's history. It runs in the test process, on a node of its own:
// its connections start in that node's namespace, so faults cut it off as
// they would a framework on its own machine. Each task ID is launched once
// and never again, so a second process or a second end shows up as such.
type Fleet struct {
	c    *Cluster
	Node *Node
	opts FleetOptions
	ids  sdk.MemoryIDStore

	mu       sync.Mutex
	s        *sdk.Scheduler // guarded by mu
	stop     func()         // guarded by mu; ends the running scheduler
	pending  []string       // guarded by mu; tasks to launch
	launched map[string]string
	agents   map[string]string // agent ID → hostname, from offers
	onAgent  map[string]string // task → agent ID
	states   map[string]string
}

// StartFleet subscribes a Fleet.
func (c *Cluster) StartFleet(opts FleetOptions) *Fleet {
	c.t.Helper()
	if opts.Name == "" {
		opts.Name = "fleet"
	}
	if opts.FailoverTimeout == 0 {
		opts.FailoverTimeout = 3600
	}
	if opts.Command == "" {
		opts.Command = "exec sleep 3600"
	}
	f := &Fleet{c: c, Node: c.AddNode(opts.Name), opts: opts, launched: map[string]string{}, agents: map[string]string{},
		onAgent: map[string]string{}, states: map[string]string{}}
	f.Start()
	c.t.Cleanup(f.Stop)
	return f
}

// Start (re)subscribes; after Stop, with the same framework ID, as a
// framework failing over does.
func (f *Fleet) Start() {
	f.c.t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	client := f.Node.HTTPClient(0) // no timeout: the subscription is a stream
	probes := f.Node.HTTPClient(2 * time.Second)
	s, err := sdk.New(sdk.Config{
		Detector: &detector{c: f.c, client: probes},
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(f.opts.Name),
			FailoverTimeout: proto.Float64(f.opts.FailoverTimeout),
			Capabilities:    []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}},
		HTTPClient: client, Logger: logger, IDStore: &f.ids, DisableAutoAck: true,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
	}, sdk.HandlerFunc(f.handle))
	if err != nil {
		f.c.t.Fatalf("cluster: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	f.mu.Lock()
	f.s = s
	f.stop = func() { cancel(); <-done; client.CloseIdleConnections(); probes.CloseIdleConnections() }
	f.mu.Unlock()
}

// Stop disconnects the framework (its tasks stay, for its failover
// timeout).
func (f *Fleet) Stop() {
	f.mu.Lock()
	stop := f.stop
	f.stop = nil
	f.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (f *Fleet) scheduler() *sdk.Scheduler {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

// ID is the framework's ID, "" before it subscribed.
func (f *Fleet) ID() string {
	id, _ := f.ids.Load()
	return id
}

// Launch queues tasks; they are launched on the next offers that fit.
func (f *Fleet) Launch(ids ...string) {
	f.mu.Lock()
	f.pending = append(f.pending, ids...)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f.scheduler().Revive(ctx) // best effort: declined offers come back within a second anyway
}

// Kill asks for task id to be killed; the history notes the request first.
func (f *Fleet) Kill(id string) error {
	f.mu.Lock()
	agent := f.onAgent[id]
	f.mu.Unlock()
	f.c.rec.Record(history.Event{Kind: history.Kill, Task: id, Node: f.host(agent)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.scheduler().Kill(ctx, id, agent)
}

// Reconcile asks the master for the state of every task launched.
func (f *Fleet) Reconcile() error {
	f.mu.Lock()
	var tasks []*schedulerpb.Call_Reconcile_Task
	for id := range f.launched {
		t := &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String(id)}}
		if a := f.onAgent[id]; a != "" {
			t.AgentId = &mesospb.AgentID{Value: proto.String(a)}
		}
		tasks = append(tasks, t)
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.scheduler().Reconcile(ctx, tasks...)
}

// Tasks lists the tasks launched.
func (f *Fleet) Tasks() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.launched {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// State is the last state the framework heard for task id.
func (f *Fleet) State(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[id]
}

// Count says how many tasks the framework last heard in state.
func (f *Fleet) Count(state string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, st := range f.states {
		if st == state {
			n++
		}
	}
	return n
}

// Pending is how many queued tasks are not launched yet.
func (f *Fleet) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

func (f *Fleet) host(agentID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agents[agentID]
}

func (f *Fleet) handle(ctx context.Context, ev *schedulerpb.Event) error {
	s := f.scheduler()
	for _, o := range ev.GetOffers().GetOffers() {
		f.offer(ctx, s, o)
	}
	if st := ev.GetUpdate().GetStatus(); st != nil {
		f.update(ctx, s, st)
	}
	return nil
}

func (f *Fleet) offer(ctx context.Context, s *sdk.Scheduler, o *mesospb.Offer) {
	space := sdk.NewSpace(o)
	var tasks []*mesospb.TaskInfo
	f.mu.Lock()
	f.agents[o.GetAgentId().GetValue()] = o.GetHostname()
	for len(f.pending) > 0 {
		res, ok := space.Take(0.1, 16, 0, 0)
		if !ok {
			break
		}
		id := f.pending[0]
		f.pending = f.pending[1:]
		f.launched[id] = o.GetHostname()
		f.onAgent[id] = o.GetAgentId().GetValue()
		tasks = append(tasks, sdk.CommandTask(id, id, o, f.opts.Command, res))
	}
	f.mu.Unlock()
	if len(tasks) == 0 {
		_ = s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 1)
		return
	}
	for _, t := range tasks {
		f.c.rec.Record(history.Event{Kind: history.Launch, Task: t.GetTaskId().GetValue(), Node: o.GetHostname()})
	}
	if err := s.Launch(ctx, o, 1, tasks...); err != nil {
		// The launch may or may not have reached the master: the tasks
		// stay launched once, and reconciliation says what became of them.
		f.c.t.Logf("fleet: launching %d tasks: %v", len(tasks), err)
	}
}

func (f *Fleet) update(ctx context.Context, s *sdk.Scheduler, st *mesospb.TaskStatus) {
	id, state := st.GetTaskId().GetValue(), st.GetState().String()
	f.mu.Lock()
	f.states[id] = state
	host := f.launched[id]
	f.mu.Unlock()
	e := history.Event{Kind: history.Update, Task: id, State: state, Node: host, Source: strings.TrimPrefix(st.GetSource().String(), "SOURCE_")}
	if st.Reason != nil {
		e.Detail = strings.TrimPrefix(st.GetReason().String(), "REASON_")
	}
	f.c.rec.Record(e)
	if len(st.GetUuid()) == 0 {
		return
	}
	if err := s.Acknowledge(ctx, st); err == nil {
		f.c.rec.Record(history.Event{Kind: history.Ack, Task: id, State: state, Node: host})
	}
}

// detector finds the leader by asking each master in turn: the leader
// answers, a standby redirects to it.
type detector struct {
	c      *Cluster
	client *http.Client
}

func (d *detector) Leader(ctx context.Context) (string, error) {
	body, _ := codec.JSON.Marshal(Call(masterpb.Call_GET_HEALTH))
	for _, m := range d.c.Masters {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.Addr+"/api/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", codec.JSONMediaType)
		resp, err := d.client.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return m.Addr, nil
		case http.StatusTemporaryRedirect:
			// "//host:port/api/v1"
			if u, err := url.Parse(resp.Header.Get("Location")); err == nil && u.Host != "" {
				return u.Host, nil
			}
		}
	}
	return "", errors.New("cluster: no master answers as leader or names one")
}

var _ sdk.Detector = (*detector)(nil)

// String names the fleet.
func (f *Fleet) String() string { return fmt.Sprintf("fleet %s on %s", f.opts.Name, f.Node.IP) }
