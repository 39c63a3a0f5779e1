package sdk

import (
	"context"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

var _ Caller = (*Scheduler)(nil)

// Accept applies operations (LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE,
// CREATE, DESTROY) to offers of one agent, in order, all or nothing. The
// offers are used up: what the operations leave is declined, and kept
// from this framework for refuseSeconds (negative: the master's default,
// 5 s). An offer no longer valid (rescinded, or used already) voids the
// whole call, which the master still answers 202: its tasks come back as
// TASK_DROPPED updates (TASK_LOST to frameworks that are not
// partition-aware), reason REASON_INVALID_OFFERS.
func (s *Scheduler) Accept(ctx context.Context, offerIDs []*mesospb.OfferID, ops []*mesospb.Offer_Operation, refuseSeconds float64) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type:   schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{OfferIds: offerIDs, Operations: ops, Filters: filters(refuseSeconds)},
	})
}

// Launch accepts one offer with a single LAUNCH of tasks, declining the
// rest of it for refuseSeconds.
func (s *Scheduler) Launch(ctx context.Context, offer *mesospb.Offer, refuseSeconds float64, tasks ...*mesospb.TaskInfo) error {
	return s.Accept(ctx, []*mesospb.OfferID{offer.GetId()}, []*mesospb.Offer_Operation{LaunchOperation(tasks...)}, refuseSeconds)
}

// LaunchOperation is an offer operation launching tasks, each with its
// own command executor.
func LaunchOperation(tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{
		Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
	}
}

// Decline gives offers back, refusing their resources for refuseSeconds
// (negative: the master's default, 5 s): the master offers them to others
// meanwhile. Declining with a long filter what the framework cannot use
// is how it stays out of its neighbours' way; Revive clears filters.
func (s *Scheduler) Decline(ctx context.Context, offerIDs []*mesospb.OfferID, refuseSeconds float64) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type:    schedulerpb.Call_DECLINE.Enum(),
		Decline: &schedulerpb.Call_Decline{OfferIds: offerIDs, Filters: filters(refuseSeconds)},
	})
}

func filters(refuseSeconds float64) *mesospb.Filters {
	if refuseSeconds < 0 {
		return nil
	}
	return &mesospb.Filters{RefuseSeconds: proto.Float64(refuseSeconds)}
}

// Kill asks for a task to be killed; agentID may be "" (the master looks
// the task up). The outcome arrives as an UPDATE (TASK_KILLED, or
// TASK_LOST for a task the master does not know); kill again if none
// comes, since a kill is not retried.
func (s *Scheduler) Kill(ctx context.Context, taskID, agentID string) error {
	k := &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String(taskID)}}
	if agentID != "" {
		k.AgentId = &mesospb.AgentID{Value: proto.String(agentID)}
	}
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: k})
}

// Revive asks for offers again for roles (all roles when none): it ends
// a suppression and clears the framework's filters, so that declined
// agents are offered again at once.
func (s *Scheduler) Revive(ctx context.Context, roles ...string) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), Revive: &schedulerpb.Call_Revive{Roles: roles}})
}

// Suppress stops offers for roles (all roles when none) until Revive: a
// framework with nothing to place says so rather than declining offer
// after offer. Every subscription starts unsuppressed (after a failover of
// the master or of the framework): one still idle suppresses again when
// it sees SUBSCRIBED.
func (s *Scheduler) Suppress(ctx context.Context, roles ...string) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum(), Suppress: &schedulerpb.Call_Suppress{Roles: roles}})
}

// Reconcile asks for the latest state of tasks (explicit reconciliation),
// answered with one UPDATE each (REASON_RECONCILIATION, no uuid, nothing
// to acknowledge); with none, of every task the master knows for this
// framework (implicit). A task the master does not know is answered
// TASK_LOST (TASK_UNKNOWN for partition-aware frameworks).
func (s *Scheduler) Reconcile(ctx context.Context, tasks ...*schedulerpb.Call_Reconcile_Task) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{Tasks: tasks}})
}

// Acknowledge acknowledges a status update that carries a uuid, so that
// its agent stops re-sending it and sends the task's next one. Run does
// this itself unless Config.DisableAutoAck.
func (s *Scheduler) Acknowledge(ctx context.Context, st *mesospb.TaskStatus) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
		},
	})
}

// Teardown removes the framework for good: the master kills its tasks,
// and its ID can never subscribe again. Run then ends with ErrTornDown.
// A handler may call it (say, on the update that finished its work): that
// update is then not acknowledged, since nobody is left to hear it again.
func (s *Scheduler) Teardown(ctx context.Context) error {
	if err := s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}); err != nil {
		return err
	}
	s.tornDown.Store(true)
	return nil
}

// Message sends data to a custom executor, which sees a MESSAGE event.
// Delivery is best effort.
func (s *Scheduler) Message(ctx context.Context, agentID, executorID string, data []byte) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type: schedulerpb.Call_MESSAGE.Enum(),
		Message: &schedulerpb.Call_Message{
			AgentId:    &mesospb.AgentID{Value: proto.String(agentID)},
			ExecutorId: &mesospb.ExecutorID{Value: proto.String(executorID)},
			Data:       data,
		},
	})
}

// SetRoles changes the framework's roles: at once through
// UPDATE_FRAMEWORK when subscribed, and in every later subscription.
func (s *Scheduler) SetRoles(ctx context.Context, roles []string) error {
	s.mu.Lock()
	s.info.Roles = slices.Clone(roles)
	info := proto.CloneOf(s.info)
	subscribed := s.streamID != ""
	s.mu.Unlock()
	if !subscribed {
		return nil // the next SUBSCRIBE carries them
	}
	return s.Call(ctx, &schedulerpb.Call{
		Type:            schedulerpb.Call_UPDATE_FRAMEWORK.Enum(),
		UpdateFramework: &schedulerpb.Call_UpdateFramework{FrameworkInfo: info},
	})
}
