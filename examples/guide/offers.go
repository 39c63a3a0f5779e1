package guide

import (
	"context"
	"fmt"
	"slices"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// HandleEvent is the framework's whole logic: the SDK calls it for each
// event, in order, and acknowledges updates once it returns nil.
func (f *Framework) HandleEvent(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		return f.subscribed(ctx)
	case schedulerpb.Event_OFFERS:
		return f.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		return f.update(ctx, ev.GetUpdate().GetStatus())
	}
	return nil
}

// waiting lists the jobs that need a task launched, in name order.
func (f *Framework) waiting() []string {
	var out []string
	for name, j := range f.jobs {
		if j.Task == "" && j.State != "TASK_FINISHED" && j.Attempts < maxAttempts {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (f *Framework) offers(ctx context.Context, offers []*mesospb.Offer) error {
	for _, o := range offers {
		space := sdk.NewSpace(o)
		var tasks []*mesospb.TaskInfo
		for _, name := range f.waiting() {
			res, ok := space.Take(0.1, 32, 0, 0)
			if !ok {
				break
			}
			j := f.jobs[name]
			j.Attempts++
			j.Task, j.State = fmt.Sprintf("%s.%d", name, j.Attempts), "TASK_STAGING"
			tasks = append(tasks, sdk.CommandTask(name, j.Task, o, f.cfg.Jobs[name], res))
		}
		if len(tasks) == 0 {
			// Nothing for this agent: keep it from us for five minutes
			// (a retry revives sooner), so that others get it.
			if err := f.sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 300); err != nil {
				return err
			}
			continue
		}
		// Write ahead: after a crash we must know these tasks may exist.
		if err := f.save(ctx); err != nil {
			return err
		}
		if err := f.sched.Launch(ctx, o, 300, tasks...); err != nil {
			return err
		}
	}
	if len(f.waiting()) == 0 {
		// Nothing left to place: no more offers until a retry asks.
		return f.sched.Suppress(ctx)
	}
	return nil
}
