package system

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// fleet is a framework that keeps n long-running tasks: it launches each
// task ID once and never again, so a duplicate or a restarted task shows
// up as a second process or a terminal update.
type fleet struct {
	n int
	s *sdk.Scheduler

	mu       sync.Mutex
	launched map[string]int
	states   map[string]mesospb.TaskState
	ended    []string // "id: state (reason)" for every terminal update
	history  map[string][]mesospb.TaskState
}

func taskID(i int) string { return fmt.Sprintf("t-%02d", i) }

func testLogger() *slog.Logger {
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startFleet runs the framework until the test ends (or stop is called).
// A fleet that takes over from an earlier instance (resumed) knows its
// tasks were launched already.
func startFleet(t *testing.T, n int, cfg sdk.Config, resumed bool) (*fleet, func()) {
	t.Helper()
	f := &fleet{n: n, launched: make(map[string]int), states: make(map[string]mesospb.TaskState),
		history: make(map[string][]mesospb.TaskState)}
	if resumed {
		for i := range n {
			f.launched[taskID(i)] = 1
		}
	}
	if cfg.Framework == nil {
		cfg.Framework = &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("fleet"),
			FailoverTimeout: proto.Float64(3600),
			Capabilities:    []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()}}}
	}
	cfg.Logger = testLogger()
	cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	s, err := sdk.New(cfg, sdk.HandlerFunc(f.handle))
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	stop := testkit.RunInBackground(s.Run)
	t.Cleanup(stop)
	return f, stop
}

func (f *fleet) handle(ctx context.Context, ev *schedulerpb.Event) error {
	for _, o := range ev.GetOffers().GetOffers() {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		f.mu.Lock()
		for i := 0; i < f.n; i++ {
			id := taskID(i)
			if f.launched[id] > 0 {
				continue
			}
			res, ok := space.Take(0.1, 16, 0, 0)
			if !ok {
				break
			}
			f.launched[id]++
			tasks = append(tasks, sdk.CommandTask(id, id, o, "sleep 3600", res))
		}
		f.mu.Unlock()
		var err error
		if len(tasks) > 0 {
			err = f.s.Launch(ctx, o, 1, tasks...)
		} else {
			err = f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 3600)
		}
		if err != nil {
			return err
		}
	}
	if st := ev.GetUpdate().GetStatus(); st != nil {
		f.mu.Lock()
		id := st.GetTaskId().GetValue()
		f.states[id] = st.GetState()
		f.history[id] = append(f.history[id], st.GetState())
		if mesospb.IsTerminal(st.GetState()) {
			f.ended = append(f.ended, id+": "+sdk.Describe(st))
		}
		f.mu.Unlock()
	}
	return nil
}

// allRunning reports whether the framework last heard TASK_RUNNING for
// every task.
func (f *fleet) allRunning() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) != f.n {
		return false
	}
	for _, st := range f.states {
		if st != mesospb.TaskState_TASK_RUNNING {
			return false
		}
	}
	return true
}

// checkIntact fails the test if a task ended or was launched twice.
func (f *fleet) checkIntact(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ended) > 0 {
		t.Fatalf("tasks ended: %v", f.ended)
	}
	for id, n := range f.launched {
		if n != 1 {
			t.Fatalf("task %s launched %d times", id, n)
		}
	}
}

// waitStates waits until task id has gone through states, in that order
// (other states may come between).
func (f *fleet) waitStates(t *testing.T, id string, states ...mesospb.TaskState) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("task %s to go through %v", id, states), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		i := 0
		for _, st := range f.history[id] {
			if i < len(states) && st == states[i] {
				i++
			}
		}
		return i == len(states)
	})
}

// clusterView is what the leading master says, through the operator API.
type clusterView struct {
	activeAgents, runningTasks int
	connected                  bool
	taskIDs                    []string
}

func viewOf(addr, frameworkID string) (clusterView, error) {
	var v clusterView
	status, resp, err := operator(addr, call(masterpb.Call_GET_STATE))
	if err != nil {
		return v, err
	}
	if status != 200 {
		return v, fmt.Errorf("GET_STATE: HTTP %d", status)
	}
	st := resp.GetGetState()
	for _, a := range st.GetGetAgents().GetAgents() {
		if a.GetActive() {
			v.activeAgents++
		}
	}
	for _, fw := range st.GetGetFrameworks().GetFrameworks() {
		if fw.GetFrameworkInfo().GetId().GetValue() == frameworkID && fw.GetConnected() {
			v.connected = true
		}
	}
	for _, task := range st.GetGetTasks().GetTasks() {
		if task.GetState() == mesospb.TaskState_TASK_RUNNING {
			v.runningTasks++
		}
		v.taskIDs = append(v.taskIDs, task.GetTaskId().GetValue())
	}
	slices.Sort(v.taskIDs)
	return v, nil
}
