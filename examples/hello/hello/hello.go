// Package hello is a small framework on the SDK: it launches N copies of a
// shell command, packing as many into each offer as fit, and succeeds when
// all of them have finished.
package hello

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/user"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Options say what to run.
type Options struct {
	Master string
	// Detector, if set, finds the leading master instead of Master (for
	// example election.NewDetector for masters under ZooKeeper).
	Detector sdk.Detector
	Tasks    int
	Command  string
	CPUs     float64
	Mem      float64
	Timeout  time.Duration
	Logger   *slog.Logger
	// OnUpdate, if set, sees every status update (tests use it).
	OnUpdate func(*mesospb.TaskStatus)
}

// Result summarizes a run.
type Result struct {
	Finished int
	// Agents counts finished tasks per agent ID.
	Agents map[string]int
}

// Run runs the framework until every task finished, one failed, or the
// timeout passed.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Tasks <= 0 {
		return Result{}, errors.New("hello: need at least one task")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	username := "root"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	h := &handler{opts: o, res: Result{Agents: make(map[string]int)}, stop: stop, states: make(map[string]mesospb.TaskState)}
	sched, err := sdk.New(sdk.Config{
		Master:   o.Master,
		Detector: o.Detector,
		Framework: &mesospb.FrameworkInfo{
			User: proto.String(username), Name: proto.String("hello"),
		},
		Logger: o.Logger,
	}, h)
	if err != nil {
		return Result{}, err
	}
	h.sched = sched
	err = sched.Run(ctx)
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errDone):
		_ = sched.Teardown(context.Background())
		return h.res, nil
	case err != nil:
		return h.res, err
	case cause != nil && !errors.Is(cause, context.Canceled):
		return h.res, fmt.Errorf("hello: %d of %d tasks finished: %w", h.res.Finished, o.Tasks, cause)
	}
	return h.res, ctx.Err()
}

var errDone = errors.New("all tasks finished")

type handler struct {
	opts     Options
	sched    *sdk.Scheduler
	launched int
	res      Result
	states   map[string]mesospb.TaskState
	stop     context.CancelCauseFunc
}

func (h *handler) HandleEvent(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_OFFERS:
		return h.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		return h.update(ev.GetUpdate().GetStatus())
	}
	return nil
}

func (h *handler) offers(ctx context.Context, offers []*mesospb.Offer) error {
	for _, o := range offers {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		for h.launched < h.opts.Tasks {
			res, ok := space.Take(h.opts.CPUs, h.opts.Mem, 0, 0)
			if !ok {
				break
			}
			id := fmt.Sprintf("hello-%d", h.launched)
			tasks = append(tasks, sdk.CommandTask(id, id, o, h.opts.Command, res))
			h.states[id] = mesospb.TaskState_TASK_STAGING
			h.launched++
		}
		var err error
		if len(tasks) == 0 {
			err = h.sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 5)
		} else {
			err = h.sched.Launch(ctx, o, 1, tasks...)
		}
		if err != nil {
			return err
		}
	}
	if h.launched == h.opts.Tasks {
		// Nothing more to place: stop offers so other frameworks get them.
		return h.sched.Suppress(ctx)
	}
	return nil
}

func (h *handler) update(st *mesospb.TaskStatus) error {
	if h.opts.OnUpdate != nil {
		h.opts.OnUpdate(st)
	}
	id := st.GetTaskId().GetValue()
	prev, known := h.states[id]
	if !known || sdk.Terminal(prev) {
		return nil // a reconciliation answer for something already settled
	}
	h.states[id] = st.GetState()
	switch st.GetState() {
	case mesospb.TaskState_TASK_FINISHED:
		h.res.Finished++
		h.res.Agents[st.GetAgentId().GetValue()]++
		if h.res.Finished == h.opts.Tasks {
			h.stop(errDone)
		}
	case mesospb.TaskState_TASK_FAILED, mesospb.TaskState_TASK_KILLED, mesospb.TaskState_TASK_ERROR,
		mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_DROPPED, mesospb.TaskState_TASK_GONE:
		h.stop(fmt.Errorf("task %s", sdk.Describe(st)))
	}
	return nil
}
