package kit

import (
	"context"
	"log/slog"

	"github.com/corral-sched/corral/proto/mesospb"
)

// RecordLaunches writes the launches planned for a round of offers
// (launches[i] for offer i) before they are sent: a restarted framework
// must know every task it may have started. When the write fails it
// logs so, forgets every planned task (forget is called with the
// framework's lock held) and returns no launches, so that every offer is
// declined.
func RecordLaunches(ctx context.Context, d *Durable, log *slog.Logger, launches [][]*mesospb.TaskInfo, forget func(taskID string)) [][]*mesospb.TaskInfo {
	recorded := d.FlushOrUndo(ctx, log, "could not record launches; declining", func() {
		for _, tasks := range launches {
			for _, ti := range tasks {
				forget(ti.GetTaskId().GetValue())
			}
		}
	})
	if !recorded {
		return make([][]*mesospb.TaskInfo, len(launches))
	}
	return launches
}
