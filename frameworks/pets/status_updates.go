package pets

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// handle receives the SDK's events. A call that fails here (the master
// failing over, a lossy link) is logged, not returned: an error from the
// handler would end the subscription for good.
func (f *Framework) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		// Ask about every task that may be running: the master answers
		// for each, and adopts nothing we do not know. Tasks on agents
		// that have not re-registered after a failover get no answer yet:
		// the reconciler asks again until they do.
		f.mu.Lock()
		tasks := f.reconcileList(true)
		f.resync = true
		now := f.cfg.Now()
		f.lastReconcile = now
		f.mu.Unlock()
		f.loop.Poke()
		f.recon.Ask(now, tasks...)
		if err := f.recon.Tick(ctx, f.sched, now); err != nil {
			f.log.Warn("reconciliation not sent; asked again soon", "err", err)
		}
	case schedulerpb.Event_OFFERS:
		f.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		f.update(ev.GetUpdate().GetStatus())
	case schedulerpb.Event_UPDATE_OPERATION_STATUS:
		f.operationStatus(ev.GetUpdateOperationStatus().GetStatus())
	}
	return nil
}

// reconcileList lists the tasks to reconcile explicitly: all live ones,
// or only those in doubt or whose launch has had no answer; never one
// whose ACCEPT has not returned yet (kit.InFlight).
func (f *Framework) reconcileList(all bool) []*schedulerpb.Call_Reconcile_Task {
	var tasks []*schedulerpb.Call_Reconcile_Task
	for _, name := range sortedKeys(f.pets) {
		p := f.pets[name]
		if !p.live() || (!all && p.InDoubt == "" && p.State != "") || f.inFlight.Has(p.TaskID) {
			continue // a launch on its way is unknown to the master until its ACCEPT lands
		}
		agent := ""
		if p.Placement != nil {
			agent = p.Placement.AgentID
		}
		tasks = append(tasks, sdk.ReconcileTask(p.TaskID, agent))
	}
	return tasks
}

// inDoubt reports whether a status leaves the task possibly running
// where nobody can see it: its agent is partitioned, or the master does
// not know the task.
func inDoubt(st *mesospb.TaskStatus) bool {
	switch st.GetState() {
	case mesospb.TaskState_TASK_UNREACHABLE, mesospb.TaskState_TASK_UNKNOWN:
		return true
	case mesospb.TaskState_TASK_LOST:
		// Frameworks that are not partition-aware hear TASK_LOST for an
		// unreachable agent; this one is, but a master may still say it.
		return strings.HasPrefix(st.GetReason().String(), "REASON_AGENT_")
	}
	return false
}

// update records a status update; its acknowledgement waits for the next
// write of the state.
func (f *Framework) update(st *mesospb.TaskStatus) {
	if f.cfg.OnUpdate != nil {
		f.cfg.OnUpdate(st)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.loop.Poke()
	f.outbox.Ack(st)
	id := st.GetTaskId().GetValue()
	f.recon.Answered(id)
	now := f.cfg.Now()
	p := f.pets[f.byTask[id]]
	if p == nil || p.TaskID != id {
		f.strayUpdate(st)
		return
	}
	state := st.GetState()
	p.State = state.String()
	p.Message = sdk.Describe(st)
	f.markPet(p)
	switch {
	case inDoubt(st):
		if p.InDoubt == "" {
			f.log.Warn("pet in doubt: not relaunched until its task is known to have ended", "pet", p.Name, "status", p.Message)
		}
		p.InDoubt = p.Message
		p.Ready = false
		f.probes.Stop(id)
	case mesospb.IsTerminal(state):
		f.ended(p, st, now)
	default:
		if p.InDoubt != "" {
			f.log.Info("pet is back", "pet", p.Name, "state", p.State)
			if p.Killing != "" {
				// Killed while in doubt (replaced, say): its agent can
				// hear the kill now, and the pet waits on it.
				f.outbox.Kill(taskRef{taskID: id, agentID: st.GetAgentId().GetValue()})
			}
		}
		p.InDoubt = ""
		if st.Healthy != nil {
			p.Healthy = proto.Bool(st.GetHealthy())
		}
		if state == mesospb.TaskState_TASK_RUNNING {
			f.checkReady(p, now)
		}
	}
}

// ended handles a pet's task's terminal status.
func (f *Framework) ended(p *Pet, st *mesospb.TaskStatus, now time.Time) {
	f.probes.Stop(p.TaskID)
	delete(f.byTask, p.TaskID)
	wasKilled := p.Killing != ""
	p.TaskID, p.Killing, p.InDoubt, p.Ready, p.Healthy = "", "", "", false, nil
	if !wasKilled {
		p.Failures++
		delay := min(f.cfg.MaxBackoff, time.Duration(500*(1<<min(p.Failures-1, 16)))*time.Millisecond)
		p.NotBefore = now.Add(delay)
		f.log.Warn("pet's task ended", "pet", p.Name, "status", p.Message, "relaunch after", delay)
	} else {
		f.log.Info("pet stopped", "pet", p.Name, "status", p.Message)
	}
	if st.GetState() == mesospb.TaskState_TASK_GONE_BY_OPERATOR && p.Placement != nil {
		// The agent is gone for good, and its reservation and volumes with
		// it: the pet starts afresh elsewhere.
		f.release(p, "agent gone", "agent "+p.Placement.Hostname+" was marked gone", now)
		p.NotBefore = time.Time{}
	}
}

// strayUpdate handles news of a task that is not a pet's current one: a
// task adopted back after we heard it ended, or one to stop.
func (f *Framework) strayUpdate(st *mesospb.TaskStatus) {
	id := st.GetTaskId().GetValue()
	if mesospb.IsTerminal(st.GetState()) || inDoubt(st) {
		return
	}
	set, k, ok := parseTaskID(id)
	if !ok {
		return
	}
	p := f.pets[petName(set, k)]
	s := f.sets[set]
	if p != nil && s != nil && !p.live() && p.Placement != nil && st.GetAgentId().GetValue() == p.Placement.AgentID &&
		k < s.Spec.Instances && !s.Deleting && !p.Replace {
		// Its reservation can hold one task only, so this is the pet: a
		// status said it ended while it was in fact still running.
		p.TaskID, p.State = id, st.GetState().String()
		f.byTask[id] = p.Name
		f.markPet(p)
		f.log.Warn("adopting a pet's task found running", "pet", p.Name, "task", id)
		if st.GetState() == mesospb.TaskState_TASK_RUNNING {
			f.checkReady(p, f.cfg.Now())
		}
		return
	}
	f.log.Warn("killing a task no pet owns", "task", id, "agent", st.GetAgentId().GetValue())
	f.outbox.Kill(taskRef{taskID: id, agentID: st.GetAgentId().GetValue()})
}

// checkReady decides whether a running pet is ready: healthy if it has a
// health check, and past its readiness check if it has one.
func (f *Framework) checkReady(p *Pet, now time.Time) {
	s := f.sets[p.Set]
	if s == nil || p.Ready {
		return
	}
	spec := s.specAt(p.Revision)
	healthyOK := len(spec.HealthChecks) == 0 || (p.Healthy != nil && *p.Healthy)
	ready := healthyOK
	if len(spec.ReadinessChecks) > 0 {
		rc := spec.ReadinessChecks[0]
		switch rc.Protocol {
		case "COMMAND":
			ready = p.Healthy != nil && *p.Healthy
		default:
			if healthyOK {
				f.startProbe(p, rc)
			}
			ready = false
		}
	}
	if ready {
		f.markReady(p, now)
	}
}

func (f *Framework) markReady(p *Pet, now time.Time) {
	p.Ready, p.ReadyAt, p.Failures, p.NotBefore = true, now, 0, time.Time{}
	f.markPet(p)
	f.log.Info("pet ready", "pet", p.Name, "task", p.TaskID, "revision", p.Revision)
}

// operationStatus confirms placements and completes releases.
func (f *Framework) operationStatus(st *mesospb.OperationStatus) {
	kind, id, ok := strings.Cut(st.GetOperationId().GetValue(), ":")
	if !ok {
		return
	}
	finished := st.GetState() == mesospb.OperationState_OPERATION_FINISHED
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.loop.Poke()
	switch kind {
	case "reserve", "create":
		for _, p := range f.pets {
			if p.Placement == nil || p.Placement.ID != id {
				continue
			}
			if finished {
				if kind == "create" || len(p.Placement.Volumes) == 0 {
					p.Placement.Confirmed = true
					f.markPet(p)
				}
				return
			}
			f.log.Warn("placement refused; placing the pet again", "pet", p.Name, "operation", kind, "message", st.GetMessage())
			if !p.live() {
				// Whatever part was made is ours with a placement ID no pet
				// holds: the next offer of it releases it as an orphan.
				p.Placement = nil
				f.markPet(p)
			}
			return
		}
	case "unreserve":
		if r := f.releases[id]; r != nil && finished {
			f.log.Info("reservation released", "placement", id, "pet", petName(r.Set, r.Ordinal), "agent", r.Hostname)
			delete(f.releases, id)
			f.releaseRecords.Remove(id)
		}
	case "destroy":
		if !finished {
			f.log.Warn("volume not destroyed; retrying with the next offer", "placement", id, "message", st.GetMessage())
		}
	}
}

// release gives a pet's placement up: its volumes are destroyed and its
// reservation returned when its agent next offers them.
func (f *Framework) release(p *Pet, reason, abandoned string, now time.Time) {
	pl := p.Placement
	if pl == nil {
		return
	}
	r := &Release{Placement: *pl, Set: p.Set, Ordinal: p.Ordinal, Reason: reason, Created: now, Abandoned: abandoned}
	f.releases[pl.ID] = r
	f.releaseRecords.Mark(pl.ID)
	p.Placement = nil
	f.markPet(p)
	f.log.Info("releasing a pet's placement", "pet", p.Name, "placement", pl.ID, "agent", pl.Hostname, "reason", reason)
}
