package sdk

import (
	"context"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

var _ Caller = (*Scheduler)(nil)

// Accept applies operations to offers; what is left is refused for
// refuseSeconds (negative: the master's default).
func (s *Scheduler) Accept(ctx context.Context, offerIDs []*mesospb.OfferID, ops []*mesospb.Offer_Operation, refuseSeconds float64) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type:   schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{OfferIds: offerIDs, Operations: ops, Filters: filters(refuseSeconds)},
	})
}

// Launch accepts one offer with a single LAUNCH of tasks.
func (s *Scheduler) Launch(ctx context.Context, offer *mesospb.Offer, refuseSeconds float64, tasks ...*mesospb.TaskInfo) error {
	return s.Accept(ctx, []*mesospb.OfferID{offer.GetId()}, []*mesospb.Offer_Operation{LaunchOperation(tasks...)}, refuseSeconds)
}

// LaunchOperation is an offer operation launching tasks.
func LaunchOperation(tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{
		Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
	}
}

// Decline gives offers back, refusing them for refuseSeconds (negative:
// the master's default).
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

// Kill asks for a task to be killed.
func (s *Scheduler) Kill(ctx context.Context, taskID, agentID string) error {
	k := &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String(taskID)}}
	if agentID != "" {
		k.AgentId = &mesospb.AgentID{Value: proto.String(agentID)}
	}
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: k})
}

// Revive asks for offers again for roles (all roles when none).
func (s *Scheduler) Revive(ctx context.Context, roles ...string) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), Revive: &schedulerpb.Call_Revive{Roles: roles}})
}

// Suppress stops offers for roles (all roles when none).
func (s *Scheduler) Suppress(ctx context.Context, roles ...string) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum(), Suppress: &schedulerpb.Call_Suppress{Roles: roles}})
}

// Reconcile asks for the state of tasks; with none, of every task the
// master knows for this framework.
func (s *Scheduler) Reconcile(ctx context.Context, tasks ...*schedulerpb.Call_Reconcile_Task) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{Tasks: tasks}})
}

// Acknowledge acknowledges a status update that carries a uuid.
func (s *Scheduler) Acknowledge(ctx context.Context, st *mesospb.TaskStatus) error {
	return s.Call(ctx, &schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
		},
	})
}

// Teardown removes the framework: the master kills its tasks.
func (s *Scheduler) Teardown(ctx context.Context) error {
	return s.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
}

// Message sends data to an executor.
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
