package kit

import (
	"context"
	"log/slog"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Outbox holds what a framework may tell the master only once the state
// behind it is durable: acknowledgements (an acknowledged update is never
// sent again, so what it changed must be stored first) and kills, of
// tasks named by K. The framework's lock guards it.
type Outbox[K any] struct {
	acks  []*mesospb.TaskStatus
	kills []K
}

// Ack queues the acknowledgement of st. Updates without a UUID (answers
// to reconciliation) are not acknowledged, as Mesos requires.
func (o *Outbox[K]) Ack(st *mesospb.TaskStatus) {
	if len(st.GetUuid()) > 0 {
		o.acks = append(o.acks, st)
	}
}

// Kill queues a kill.
func (o *Outbox[K]) Kill(k K) { o.kills = append(o.kills, k) }

// Sending is what a tick took from an Outbox to send after its flush.
type Sending[K any] struct {
	Acks  []*mesospb.TaskStatus
	Kills []K
}

// Take empties the outbox and returns what it held.
func (o *Outbox[K]) Take() Sending[K] {
	s := Sending[K]{Acks: o.acks, Kills: o.kills}
	o.acks, o.kills = nil, nil
	return s
}

// FlushBeforeSending flushes d before what a tick took from o is sent.
// When the flush fails it logs so, puts taken back in front of what came
// since, calls undo (if not nil) with the framework's lock held, and
// reports false: nothing taken may be sent, and the next tick tries
// again.
func FlushBeforeSending[K any](ctx context.Context, d *Durable, o *Outbox[K], taken Sending[K], log *slog.Logger, undo func()) bool {
	return d.FlushOrUndo(ctx, log, "could not write state; updates stay unacknowledged", func() {
		o.acks = append(taken.Acks, o.acks...)
		o.kills = append(taken.Kills, o.kills...)
		if undo != nil {
			undo()
		}
	})
}

// Acknowledge sends acks, workers at a time (one: in order). One that is
// not sent is only logged: the agent resends an unacknowledged update.
func Acknowledge(ctx context.Context, sched *sdk.Scheduler, log *slog.Logger, acks []*mesospb.TaskStatus, workers int) {
	Parallel(acks, workers, func(st *mesospb.TaskStatus) {
		if err := sched.Acknowledge(ctx, st); err != nil {
			log.Debug("acknowledgement not sent; the agent will resend the update", "task", st.GetTaskId().GetValue(), "err", err)
		}
	})
}
