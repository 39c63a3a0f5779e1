package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// loadConfig shapes the framework the launch, churn and failover
// benchmarks drive the master with.
type loadConfig struct {
	Master   string
	Detector sdk.Detector
	CPUs     float64
	Mem      float64
	Command  string
	// Capacity is the most tasks a run submits; their timelines are
	// allocated up front.
	Capacity int
	// KillAfter, if set, kills each task that long after it runs (churn
	// by launch and kill rather than by tasks that end on their own).
	KillAfter time.Duration
	// MaxPerOffer, if set, caps the tasks launched on one offer, to
	// spread them over the agents.
	MaxPerOffer int
	Logger      *slog.Logger
}

// taskTimes is one task's timeline. Zero times did not happen.
type taskTimes struct {
	submit, accept, running, ended time.Time
	agent                          string
	state                          mesospb.TaskState
}

// loadEvent is what the SDK's handler hands to the framework's loop,
// stamped when it arrived: the loop may be busy sending calls, and the
// latencies are the master's and agents', not the loop's.
type loadEvent struct {
	at         time.Time
	offers     []*mesospb.Offer
	rescind    string
	status     *mesospb.TaskStatus
	subscribed bool
	submit     int // tasks to queue
	kill       int // index of a task to kill, +1
	killAll    bool
}

// loadFramework is an SDK framework that launches queued tasks on the
// offers it holds, as many per offer as fit, and records each task's
// timeline. One goroutine (loop) owns the queue, the offers and the
// timelines; the handler only forwards events, and acknowledgements and
// kills go out from a few workers so that the event stream never waits
// on them.
type loadFramework struct {
	cfg    loadConfig
	sched  *sdk.Scheduler
	events chan loadEvent
	calls  chan func(context.Context)

	// Owned by loop; read by others only after it has returned.
	tasks  []taskTimes
	queue  []int
	offers []*mesospb.Offer

	// Progress, for waiting from other goroutines.
	running, ended, failed, acceptErrors atomic.Int64
	held                                 atomic.Int64 // offers held
	firstOfferAfter                      atomic.Int64 // unix nanos of the first offer after markOffers
	offersSince                          atomic.Int64 // unix nanos; 0: not watching
	changed                              chan struct{}

	stop func()
	done sync.WaitGroup
}

func newLoadFramework(cfg loadConfig) (*loadFramework, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &loadFramework{cfg: cfg, events: make(chan loadEvent, 1<<16), calls: make(chan func(context.Context), 1<<16),
		tasks: make([]taskTimes, 0, cfg.Capacity), changed: make(chan struct{}, 1)}
	s, err := sdk.New(sdk.Config{Master: cfg.Master, Detector: cfg.Detector, Logger: cfg.Logger,
		Framework:  &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("bench"), FailoverTimeout: proto.Float64(300)},
		MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		DisableAutoAck: true}, sdk.HandlerFunc(f.handle))
	if err != nil {
		return nil, err
	}
	f.sched = s
	return f, nil
}

// start runs the scheduler, the loop and the call workers until close.
func (f *loadFramework) start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	f.stop = cancel
	f.done.Add(1)
	go func() { defer f.done.Done(); _ = f.sched.Run(ctx) }()
	f.done.Add(1)
	go func() { defer f.done.Done(); f.loop(ctx) }()
	for range 8 {
		f.done.Add(1)
		go func() {
			defer f.done.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case call := <-f.calls:
					call(ctx)
				}
			}
		}()
	}
}

// close tears the framework down (the master kills what is left of its
// tasks) and waits for its goroutines.
func (f *loadFramework) close() {
	tctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = f.sched.Teardown(tctx)
	cancel()
	f.stop()
	f.done.Wait()
}

func (f *loadFramework) handle(_ context.Context, ev *schedulerpb.Event) error {
	now := time.Now()
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		f.events <- loadEvent{at: now, subscribed: true}
	case schedulerpb.Event_OFFERS:
		if since := f.offersSince.Load(); since != 0 && now.UnixNano() > since {
			f.firstOfferAfter.CompareAndSwap(0, now.UnixNano())
		}
		f.events <- loadEvent{at: now, offers: ev.GetOffers().GetOffers()}
	case schedulerpb.Event_RESCIND:
		f.events <- loadEvent{at: now, rescind: ev.GetRescind().GetOfferId().GetValue()}
	case schedulerpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		if len(st.GetUuid()) > 0 {
			f.calls <- func(ctx context.Context) { _ = f.sched.Acknowledge(ctx, st) }
		}
		f.events <- loadEvent{at: now, status: st}
	}
	return nil
}

// submit queues n more tasks.
func (f *loadFramework) submit(n int) { f.events <- loadEvent{at: time.Now(), submit: n} }

// killAll kills every task that runs.
func (f *loadFramework) killAll() { f.events <- loadEvent{at: time.Now(), killAll: true} }

// watchOffers starts timing the first offer that arrives from now on.
func (f *loadFramework) watchOffers() {
	f.firstOfferAfter.Store(0)
	f.offersSince.Store(time.Now().UnixNano())
}

// wait blocks until cond holds or ctx ends.
func (f *loadFramework) wait(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (%d running, %d ended, %d failed): %w",
				what, f.running.Load(), f.ended.Load(), f.failed.Load(), ctx.Err())
		case <-f.changed:
		case <-time.After(100 * time.Millisecond): // conditions on other state (clocks, masters) too
		}
	}
	return nil
}

func (f *loadFramework) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *loadFramework) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-f.events:
			f.apply(ev)
			// Drain what else has arrived before launching, so that one
			// ACCEPT carries every task queued so far.
			for more := true; more; {
				select {
				case ev := <-f.events:
					f.apply(ev)
				default:
					more = false
				}
			}
			f.launch(ctx)
			f.held.Store(int64(len(f.offers)))
			f.notify()
		}
	}
}

func (f *loadFramework) apply(ev loadEvent) {
	switch {
	case ev.subscribed:
		// Offers of an earlier subscription died with it (a failover).
		f.offers = f.offers[:0]
	case ev.offers != nil:
		f.offers = append(f.offers, ev.offers...)
	case ev.rescind != "":
		for i, o := range f.offers {
			if o.GetId().GetValue() == ev.rescind {
				f.offers = append(f.offers[:i], f.offers[i+1:]...)
				break
			}
		}
	case ev.submit > 0:
		for range ev.submit {
			if len(f.tasks) == cap(f.tasks) {
				return
			}
			f.queue = append(f.queue, len(f.tasks))
			f.tasks = append(f.tasks, taskTimes{submit: ev.at})
		}
	case ev.status != nil:
		f.update(ev.at, ev.status)
	case ev.kill > 0:
		f.kill(ev.kill - 1)
	case ev.killAll:
		for i, t := range f.tasks {
			if !t.running.IsZero() && t.ended.IsZero() {
				f.kill(i)
			}
		}
	}
}

func (f *loadFramework) kill(i int) {
	id, agent := taskID(i), f.tasks[i].agent
	f.calls <- func(ctx context.Context) { _ = f.sched.Kill(ctx, id, agent) }
}

func taskID(i int) string { return "bench-" + strconv.Itoa(i) }

func taskIndex(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "bench-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

func (f *loadFramework) update(at time.Time, st *mesospb.TaskStatus) {
	i, ok := taskIndex(st.GetTaskId().GetValue())
	if !ok || i >= len(f.tasks) {
		return
	}
	t := &f.tasks[i]
	if !t.ended.IsZero() {
		return // a reconciliation's echo, or an update resent
	}
	t.state = st.GetState()
	switch {
	case st.GetState() == mesospb.TaskState_TASK_RUNNING:
		if t.running.IsZero() {
			t.running = at
			f.running.Add(1)
			if f.cfg.KillAfter > 0 {
				time.AfterFunc(f.cfg.KillAfter, func() { f.events <- loadEvent{at: time.Now(), kill: i + 1} })
			}
		}
	case sdk.Terminal(st.GetState()):
		t.ended = at
		f.ended.Add(1)
		if t.running.IsZero() {
			f.failed.Add(1)
			f.cfg.Logger.Warn("task ended before it ran", "status", sdk.Describe(st))
		}
	}
}

// launch packs queued tasks into held offers, one ACCEPT per offer.
func (f *loadFramework) launch(ctx context.Context) {
	for len(f.queue) > 0 && len(f.offers) > 0 {
		o := f.offers[len(f.offers)-1]
		f.offers = f.offers[:len(f.offers)-1]
		n := min(len(f.queue), fits(o, f.cfg.CPUs, f.cfg.Mem))
		if f.cfg.MaxPerOffer > 0 {
			n = min(n, f.cfg.MaxPerOffer)
		}
		if n == 0 {
			// Too small a fragment: give it back for a while so that the
			// master can offer it merged with what frees up.
			ids := []*mesospb.OfferID{o.GetId()}
			f.calls <- func(ctx context.Context) { _ = f.sched.Decline(ctx, ids, 1) }
			continue
		}
		res, _ := sdk.NewSpace(o).Take(f.cfg.CPUs, f.cfg.Mem, 0, 0)
		batch := f.queue[:n]
		tasks := make([]*mesospb.TaskInfo, n)
		now := time.Now()
		for j, i := range batch {
			tasks[j] = sdk.CommandTask(taskID(i), taskID(i), o, f.cfg.Command, res)
			f.tasks[i].accept = now
			f.tasks[i].agent = o.GetAgentId().GetValue()
		}
		if err := f.sched.Launch(ctx, o, 0, tasks...); err != nil {
			// The offer is gone (a failover, a rescind): the tasks wait
			// for the next one.
			f.acceptErrors.Add(1)
			f.cfg.Logger.Warn("ACCEPT failed", "err", err)
			for _, i := range batch {
				f.tasks[i].accept = time.Time{}
			}
			continue
		}
		f.queue = f.queue[n:]
	}
}

// fits counts the tasks of cpus and mem an offer holds, in the fixed
// point (thousandths) the master's arithmetic uses.
func fits(o *mesospb.Offer, cpus, mem float64) int {
	var haveCPU, haveMem float64
	for _, r := range o.GetResources() {
		switch r.GetName() {
		case "cpus":
			haveCPU += r.GetScalar().GetValue()
		case "mem":
			haveMem += r.GetScalar().GetValue()
		}
	}
	milli := func(v float64) int64 { return int64(math.Round(v * 1000)) }
	n := int64(math.MaxInt32)
	if cpus > 0 {
		n = min(n, milli(haveCPU)/milli(cpus))
	}
	if mem > 0 {
		n = min(n, milli(haveMem)/milli(mem))
	}
	return int(n)
}

// loadResult summarises the timelines of tasks submitted in [from, to)
// (zero times: all of them). Call it after close.
type loadResult struct {
	Submitted       int
	Running         int
	Failed          int
	AcceptToRunning benchkit.Latency
	SubmitToRunning benchkit.Latency
	FirstSubmit     time.Time
	LastRunning     time.Time
}

func (f *loadFramework) result() loadResult {
	var r loadResult
	var a2r, s2r []time.Duration
	for _, t := range f.tasks {
		r.Submitted++
		if r.FirstSubmit.IsZero() || t.submit.Before(r.FirstSubmit) {
			r.FirstSubmit = t.submit
		}
		if t.running.IsZero() {
			if !t.ended.IsZero() {
				r.Failed++
			}
			continue
		}
		r.Running++
		if t.running.After(r.LastRunning) {
			r.LastRunning = t.running
		}
		a2r = append(a2r, t.running.Sub(t.accept))
		s2r = append(s2r, t.running.Sub(t.submit))
	}
	r.AcceptToRunning, r.SubmitToRunning = benchkit.Summarize(a2r), benchkit.Summarize(s2r)
	return r
}

// pace submits total tasks at rate per second (all at once when rate is
// 0) and returns when the last is submitted or ctx ends.
func pace(ctx context.Context, f *loadFramework, total int, rate float64) {
	if rate <= 0 {
		f.submit(total)
		return
	}
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate / 2))
	defer tick.Stop()
	submitted := 0
	for submitted < total {
		due := min(total, 1+int(time.Since(start).Seconds()*rate))
		if due > submitted {
			f.submit(due - submitted)
			submitted = due
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
