package service

import (
	"context"
	"math"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// handle receives the SDK's events.
func (f *Framework) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		f.mu.Lock()
		f.resync = true
		f.mu.Unlock()
		f.loop.Poke()
		f.bus.publish("scheduler_registered_event", map[string]any{"frameworkId": f.sched.FrameworkID(), "master": f.cfg.Master, "timestamp": f.cfg.Now()})
		// A failed call is logged, not returned: returning it would end the
		// subscription, and with it every later offer and update.
		if err := f.reconcile(ctx); err != nil {
			f.log.Warn("could not reconcile after subscribing", "err", err)
		}
	case schedulerpb.Event_OFFERS:
		return f.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		f.update(ev.GetUpdate().GetStatus())
		f.loop.Poke()
	case schedulerpb.Event_INVERSE_OFFERS:
		if err := f.inverseOffers(ctx, ev.GetInverseOffers().GetInverseOffers()); err != nil {
			f.log.Warn("could not answer inverse offers", "err", err)
		}
	}
	return nil
}

// inverseOffers hears that agents will go down for maintenance: the
// framework agrees, and moves its instances off them the way a rolling
// upgrade replaces them (within each app's upgrade strategy).
func (f *Framework) inverseOffers(ctx context.Context, ios []*mesospb.InverseOffer) error {
	var ids []*mesospb.OfferID
	f.mu.Lock()
	for _, io := range ios {
		agent := io.GetAgentId().GetValue()
		if !f.draining[agent] {
			f.log.Info("agent scheduled for maintenance: moving instances off it", "agent", agent)
		}
		f.draining[agent] = true
		ids = append(ids, io.GetId())
	}
	f.mu.Unlock()
	f.loop.Poke()
	return f.sched.Call(ctx, &schedulerpb.Call{Type: schedulerpb.Call_ACCEPT_INVERSE_OFFERS.Enum(),
		AcceptInverseOffers: &schedulerpb.Call_AcceptInverseOffers{InverseOfferIds: ids}})
}

// reconcile asks about every instance launched: the master answers for
// each, TASK_GONE or TASK_UNKNOWN for those it does not know, and nothing
// for those on agents it is still waiting for after a failover; those are
// asked about again (sdk.Reconciler) until they have an answer. An
// instance whose ACCEPT has not returned is left out (kit.InFlight): the
// master does not know it yet, and would say it is gone.
func (f *Framework) reconcile(ctx context.Context) error {
	f.mu.Lock()
	var tasks []*schedulerpb.Call_Reconcile_Task
	for id, in := range f.instances {
		if !f.inFlight.Has(id) {
			tasks = append(tasks, sdk.ReconcileTask(id, in.AgentID))
		}
	}
	now := f.cfg.Now()
	f.mu.Unlock()
	f.recon.Ask(now, tasks...)
	return f.recon.Tick(ctx, f.sched, now)
}

// update applies a status update to its instance; it is acknowledged
// after the next write.
func (f *Framework) update(st *mesospb.TaskStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now()
	f.outbox.Ack(st)
	id := st.GetTaskId().GetValue()
	f.recon.Answered(id)
	state := st.GetState()
	in := f.instances[id]
	if in == nil {
		// Not ours (any more): an instance forgotten after it was
		// expunged, or launched by a framework instance that crashed
		// before writing it down. It must not run.
		if !terminal(state) {
			f.log.Info("killing a task the framework does not know", "task", id, "state", state)
			f.outbox.Kill(&Instance{ID: id, AgentID: st.GetAgentId().GetValue()})
		}
		return
	}
	if ts := st.GetTimestamp(); ts < in.Updated {
		// A resent update overtaken by a later one (the agent resends
		// until acknowledged, and a resend can arrive after the next
		// update): it must not take the instance back in time.
		return
	} else {
		in.Updated = ts
	}
	as := f.apps[in.AppID]
	in.State, in.Message = state.String(), st.GetMessage()
	if ips := statusIPs(st); len(ips) > 0 {
		in.ContainerIPs = ips
	}
	f.instanceRecords.Mark(id)
	f.publishStatus(in, now)
	switch {
	case terminal(state):
		f.ended(as, in, st, now)
	case state == mesospb.TaskState_TASK_UNREACHABLE:
		if in.UnreachableSince.IsZero() {
			in.UnreachableSince = now
		}
	default:
		in.UnreachableSince = time.Time{}
		if in.Replaced && !in.killing() {
			f.log.Info("a replaced instance came back; killing it", "app", in.AppID, "task", id)
			f.kill(in, "came back after it was replaced", now)
		}
		if state == mesospb.TaskState_TASK_RUNNING && in.StartedAt.IsZero() {
			in.StartedAt = now
		}
		if st.Healthy != nil {
			h := st.GetHealthy()
			if in.Healthy == nil || *in.Healthy != h {
				f.bus.publish("health_status_changed_event", map[string]any{"appId": in.AppID, "taskId": id, "instanceId": id,
					"version": in.Version, "alive": h, "timestamp": now})
			}
			if !h && as != nil && len(as.Spec.HealthChecks) > 0 {
				f.bus.publish("failed_health_check_event", map[string]any{"appId": in.AppID, "taskId": id, "instanceId": id,
					"healthCheck": as.Spec.HealthChecks[0], "timestamp": now})
			}
			in.Healthy = &h
			if h {
				in.UnhealthySince = time.Time{}
				if as != nil && (as.Failures > 0 || !as.DelayUntil.IsZero()) {
					as.Failures, as.DelayUntil = 0, time.Time{} // it ran well: no more backoff
					f.appRecords.Mark(as.Spec.ID)
				}
			} else if in.UnhealthySince.IsZero() {
				in.UnhealthySince = now
			}
		}
	}
}

// ended forgets a finished instance and, if it ended on its own, delays
// the next launch per the app's backoff.
func (f *Framework) ended(as *appState, in *Instance, st *mesospb.TaskStatus, now time.Time) {
	delete(f.instances, in.ID)
	f.instanceRecords.Remove(in.ID)
	f.probes.Stop(in.ID)
	if as == nil || in.killing() {
		return
	}
	app := as.Spec
	as.LastFail = &TaskFailure{
		AppID: app.ID, TaskID: in.ID, State: in.State, Message: st.GetMessage(), Host: in.Host,
		SlaveID: in.AgentID, Timestamp: now, Version: in.Version,
	}
	// An instance that ran a good while before ending resets the backoff:
	// it was a crash, not a crash loop.
	if !in.StartedAt.IsZero() && now.Sub(in.StartedAt) >= 60*time.Second {
		as.Failures = 0
	}
	as.Failures++
	delay := *app.BackoffSeconds * math.Pow(*app.BackoffFactor, float64(as.Failures-1))
	delay = min(delay, *app.MaxLaunchDelaySeconds)
	as.DelayUntil = now.Add(seconds(delay))
	f.appRecords.Mark(app.ID)
	f.log.Info("instance ended", "app", app.ID, "task", in.ID, "state", in.State, "message", st.GetMessage(),
		"failures", as.Failures, "next launch in", seconds(delay).Round(time.Millisecond))
}

func terminal(s mesospb.TaskState) bool { return mesospb.IsTerminal(s) }
