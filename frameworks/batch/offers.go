package batch

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// handle receives the SDK's events. A call that fails here (the master
// failing over, a lossy link) is logged, not returned: an error from the
// handler would end the subscription for good.
func (f *Framework) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		// Ask about every task we believe is live: the master answers for
		// each, TASK_GONE or TASK_UNKNOWN for those it does not know, and
		// nothing yet for those on agents that have not re-registered
		// after a failover: the reconciler asks again until it does.
		f.mu.Lock()
		var tasks []*schedulerpb.Call_Reconcile_Task
		for id, ref := range f.byTask {
			tasks = append(tasks, sdk.ReconcileTask(id, ref.agentID))
		}
		// Whatever was suppressed before, say again what is wanted now.
		f.resync = true
		now := f.cfg.Now()
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
	}
	return nil
}

// offers packs launchable tasks of active runs into the offers (oldest
// runs first), writes the launches down, then launches; offers it cannot
// use are declined, for long when there is no work.
func (f *Framework) offers(ctx context.Context, offers []*mesospb.Offer) {
	f.mu.Lock()
	now := f.cfg.Now()
	runs := f.activeRuns()
	launches := make([][]*mesospb.TaskInfo, len(offers))
	for i, o := range offers {
		if o.Unavailability != nil {
			continue // the machine is scheduled for maintenance: start nothing there
		}
		role := o.GetAllocationInfo().GetRole()
		space := sdk.NewSpace(o)
		for _, r := range runs {
			if r.Spec.Role != role {
				continue
			}
			for r.inFlight() < r.Spec.Parallelism {
				idx, ok := r.nextIndex(now)
				if !ok || !constraintsAllow(&r.Spec, r, o) {
					break
				}
				res, ok := space.Take(r.Spec.CPUs, r.Spec.Mem, r.Spec.Disk, 0)
				if !ok {
					break
				}
				launches[i] = append(launches[i], f.launchRecord(r, idx, o, res, now))
			}
		}
	}
	pending := f.hasWork(now)
	f.mu.Unlock()

	launches = kit.RecordLaunches(ctx, f.durable, f.log, launches, f.forgetLaunch)
	declinedLong := false
	for i, o := range offers {
		switch {
		case len(launches[i]) > 0:
			if err := f.sched.Launch(ctx, o, 1, launches[i]...); err != nil {
				// Written down first: reconciliation (a second from now: the
				// master may yet be handling the call) says what became of it.
				f.log.Warn("launch not sent; reconciliation tells what became of it", "tasks", len(launches[i]), "err", err)
				f.recon.Ask(f.cfg.Now().Add(time.Second), sdk.ReconcileLaunched(launches[i]...)...)
			}
		case pending:
			if err := f.sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 1); err != nil {
				f.log.Warn("decline not sent; the offer comes back when it times out", "err", err)
			}
		default:
			if err := f.sched.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60); err != nil {
				f.log.Warn("decline not sent; the offer comes back when it times out", "err", err)
			}
			declinedLong = true
		}
	}
	if declinedLong {
		// Work submitted while these offers were being declined may have
		// been revived for before the decline's filter reached the master;
		// revive again after it, or the filter would hold for a minute.
		f.mu.Lock()
		work := f.hasWork(f.cfg.Now())
		f.mu.Unlock()
		if work {
			if err := f.sched.Revive(ctx); err != nil {
				f.retrySync() // the next tick revives
			}
		}
	}
}

// nextIndex returns the completion index to launch next: a retry whose
// backoff is over, else one never launched.
func (r *Run) nextIndex(now time.Time) (int, bool) {
	best := -1
	for i, t := range r.Tasks {
		if t.State == taskWaiting && !now.Before(t.NotBefore) && (best < 0 || i < best) {
			best = i
		}
	}
	if best >= 0 {
		return best, true
	}
	for r.Next < r.Spec.Completions && r.done(r.Next) {
		r.Next++
	}
	if r.Next < r.Spec.Completions {
		return r.Next, true
	}
	return 0, false
}

func (f *Framework) launchRecord(r *Run, idx int, o *mesospb.Offer, res resources.Resources, now time.Time) *mesospb.TaskInfo {
	t := r.Tasks[idx]
	if t == nil {
		t = &TaskRecord{Index: idx}
		r.Tasks[idx] = t
		if idx == r.Next {
			r.Next++
		}
	}
	t.Attempt++
	t.TaskID = fmt.Sprintf("%s.%d.%d", r.ID, idx, t.Attempt)
	t.AgentID, t.Hostname = o.GetAgentId().GetValue(), o.GetHostname()
	t.State, t.Message, t.Started, t.Finished, t.NotBefore = taskLaunching, "", now, time.Time{}, time.Time{}
	f.byTask[t.TaskID] = taskRef{run: r.ID, index: idx, taskID: t.TaskID, agentID: t.AgentID}
	f.runRecords.Mark(r.ID)

	ti := sdk.CommandTask(t.TaskID, t.TaskID, o, r.Spec.Cmd, res)
	if len(r.Spec.Args) > 0 {
		ti.Command = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String(r.Spec.Args[0]), Arguments: r.Spec.Args}
	}
	env := &mesospb.Environment{}
	vars := map[string]string{"CORRAL_JOB": r.JobID, "CORRAL_RUN": r.ID, "CORRAL_COMPLETION_INDEX": fmt.Sprint(idx)}
	for k, v := range r.Spec.Env {
		vars[k] = v
	}
	for _, k := range sortedKeys(vars) {
		env.Variables = append(env.Variables, &mesospb.Environment_Variable{Name: proto.String(k), Value: proto.String(vars[k])})
	}
	ti.Command.Environment = env
	labels := &mesospb.Labels{}
	for _, k := range sortedKeys(r.Spec.Labels) {
		labels.Labels = append(labels.Labels, &mesospb.Label{Key: proto.String(k), Value: proto.String(r.Spec.Labels[k])})
	}
	if len(labels.Labels) > 0 {
		ti.Labels = labels
	}
	if s := r.Spec.MaxCompletionTimeSeconds; s > 0 {
		ti.MaxCompletionTime = &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(s * float64(time.Second)))}
	}
	if r.Spec.Image != "" {
		sdk.WithImage(ti, r.Spec.Image, false)
	}
	return ti
}

// forgetLaunch undoes a launch that was never sent.
func (f *Framework) forgetLaunch(taskID string) {
	ref, ok := f.byTask[taskID]
	if !ok {
		return
	}
	delete(f.byTask, taskID)
	if r := f.runs[ref.run]; r != nil {
		if t := r.Tasks[ref.index]; t != nil && t.TaskID == taskID {
			t.Attempt--
			t.State, t.NotBefore = taskWaiting, time.Time{}
		}
	}
}

// constraintsAllow checks a job's placement constraints (the SDK's,
// Marathon's operators) against an offer's agent, given where the run's
// other tasks run.
func constraintsAllow(j *Job, r *Run, o *mesospb.Offer) bool {
	cs := j.placementRules()
	if len(cs) == 0 {
		return true
	}
	var placed []sdk.Placement
	for _, t := range r.Tasks {
		if t.State == taskLaunching || t.State == taskRunning {
			placed = append(placed, sdk.Placement{AgentID: t.AgentID, Hostname: t.Hostname})
		}
	}
	_, ok := sdk.Satisfies(cs, sdk.PlacementOf(o), placed)
	return ok
}

// update records a status update; its acknowledgement waits for the next
// write of the state.
func (f *Framework) update(st *mesospb.TaskStatus) {
	if f.cfg.OnUpdate != nil {
		f.cfg.OnUpdate(st)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outbox.Ack(st)
	defer f.loop.Poke()
	id := st.GetTaskId().GetValue()
	f.recon.Answered(id)
	ref, ok := f.byTask[id]
	if !ok {
		if !mesospb.IsTerminal(st.GetState()) && strings.Count(id, ".") == 2 {
			// A task of ours we have no record of (a run deleted meanwhile):
			// stop it.
			f.outbox.Kill(taskRef{taskID: id, agentID: st.GetAgentId().GetValue()})
		}
		return
	}
	r := f.runs[ref.run]
	if r == nil {
		delete(f.byTask, id) // its run was deleted; the kill is on its way
		return
	}
	if t := r.Tasks[ref.index]; t == nil || t.TaskID != id {
		return // an earlier attempt's late news
	}
	t := r.Tasks[ref.index]
	now := f.cfg.Now()
	switch {
	case !mesospb.IsTerminal(st.GetState()):
		if t.State == taskLaunching {
			t.State = taskRunning
			f.runRecords.Mark(r.ID)
		}
		if t.AgentID == "" && st.GetAgentId().GetValue() != "" {
			t.AgentID = st.GetAgentId().GetValue()
			ref.agentID = t.AgentID
			f.byTask[id] = ref
		}
		return
	case st.GetState() == mesospb.TaskState_TASK_FINISHED:
		delete(f.byTask, id)
		t.State, t.Finished, t.Message = taskSucceeded, now, st.GetMessage()
		if !r.done(t.Index) {
			r.markDone(t.Index)
			r.Succeeded++
		}
		f.runRecords.Mark(r.ID)
		if r.active() && r.Succeeded == r.Spec.Completions {
			f.finishRun(r, Succeeded, "", now)
		}
	case r.active() && t.State == taskLaunching && neverStarted(st):
		// Its launch was lost with a master, or dropped on its way: the
		// task never ran, so launching it again spends none of the job's
		// retries (a master failover must not fail a run).
		delete(f.byTask, id)
		t.State, t.NotBefore, t.Message = taskWaiting, now.Add(r.Spec.backoff(1)), sdk.Describe(st)
		f.runRecords.Mark(r.ID)
	default:
		delete(f.byTask, id)
		t.Failures++
		r.FailedAttempts++
		t.Finished, t.Message = now, sdk.Describe(st)
		f.runRecords.Mark(r.ID)
		switch {
		case !r.active():
			t.State = taskFailed
		case t.Failures <= r.Spec.Retries:
			t.State, t.NotBefore = taskWaiting, now.Add(r.Spec.backoff(t.Failures))
		default:
			t.State = taskFailed
			f.finishRun(r, Failed, fmt.Sprintf("completion %d failed %d times; last: %s", t.Index, t.Failures, t.Message), now)
		}
	}
}

// finishRun ends a run, stops its live tasks and starts the jobs that
// depended on it.
func (f *Framework) finishRun(r *Run, status RunStatus, reason string, now time.Time) {
	r.Status, r.Reason, r.Finished = status, reason, now
	f.runRecords.Mark(r.ID)
	for _, t := range r.Tasks {
		switch t.State {
		case taskLaunching, taskRunning:
			f.outbox.Kill(f.byTask[t.TaskID])
		case taskWaiting:
			t.State = taskFailed
		}
	}
	f.log.Info("run finished", "run", r.ID, "status", status, "reason", reason, "succeeded", r.Succeeded)
	if status == Succeeded {
		f.startDependents(r.JobID, now)
	}
}

// startDependents starts each job depending on job whose parents' latest
// runs all succeeded.
func (f *Framework) startDependents(job string, now time.Time) {
	for _, id := range sortedKeys(f.jobs) {
		js := f.jobs[id]
		if !slices.Contains(js.Spec.DependsOn, job) {
			continue
		}
		ready := true
		for _, p := range js.Spec.DependsOn {
			parent := f.jobs[p]
			if parent == nil || f.runs[parent.LastRun] == nil || f.runs[parent.LastRun].Status != Succeeded {
				ready = false
			}
		}
		if ready && f.activeRun(id) == nil {
			f.startRun(js, "dependency", now, time.Time{})
		}
	}
}

// startRun starts a run of a job.
func (f *Framework) startRun(js *jobState, trigger string, now, scheduledFor time.Time) *Run {
	js.Runs++
	r := newRun(&js.Spec, js.Runs, trigger, now)
	r.ScheduledFor = scheduledFor
	js.LastRun = r.ID
	f.runs[r.ID] = r
	f.runRecords.Mark(r.ID)
	f.jobRecords.Mark(js.Spec.ID)
	f.log.Info("run started", "run", r.ID, "trigger", trigger, "completions", r.Spec.Completions, "parallelism", r.Spec.Parallelism)
	f.loop.Poke()
	return r
}

func (f *Framework) activeRun(job string) *Run {
	if js := f.jobs[job]; js != nil {
		if r := f.runs[js.LastRun]; r != nil && r.active() {
			return r
		}
	}
	return nil
}

func (f *Framework) activeRuns() []*Run {
	var out []*Run
	for _, r := range f.runs {
		if r.active() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Run) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// hasWork reports whether some active run could launch a task now.
func (f *Framework) hasWork(now time.Time) bool {
	return len(f.rolesWithWork(now)) > 0
}

func (f *Framework) rolesWithWork(now time.Time) map[string]bool {
	roles := make(map[string]bool)
	for _, r := range f.runs {
		if !r.active() || r.inFlight() >= r.Spec.Parallelism {
			continue
		}
		if _, ok := r.nextIndex(now); ok {
			roles[r.Spec.Role] = true
		}
	}
	return roles
}

// offerWishes decides which roles to revive (work is waiting) and which
// to suppress (nothing to do), so that an idle batch framework leaves
// offers to others.
func (f *Framework) offerWishes(now time.Time) (revive, suppress []string) {
	work := f.rolesWithWork(now)
	roles := map[string]bool{DefaultRole: true}
	for _, js := range f.jobs {
		roles[js.Spec.Role] = true
	}
	for role := range work {
		roles[role] = true
	}
	for _, role := range sortedKeys(roles) {
		switch {
		case work[role] && (f.suppressed[role] || f.resync):
			revive = append(revive, role)
			f.suppressed[role] = false
		case !work[role] && (!f.suppressed[role] || f.resync):
			suppress = append(suppress, role)
			f.suppressed[role] = true
		}
	}
	f.resync = false
	return revive, suppress
}

// checkDeadlines fails runs past activeDeadlineSeconds.
func (f *Framework) checkDeadlines(now time.Time) {
	for _, r := range f.runs {
		if d := r.Spec.ActiveDeadlineSeconds; r.active() && d > 0 && now.Sub(r.Created) > time.Duration(d*float64(time.Second)) {
			f.finishRun(r, Failed, fmt.Sprintf("run exceeded activeDeadlineSeconds (%gs)", d), now)
		}
	}
}

// expireHistory drops finished runs older than their job's TTL.
func (f *Framework) expireHistory(now time.Time) {
	for id, r := range f.runs {
		ttl := r.Spec.TTLSecondsAfterFinished
		if r.active() || ttl <= 0 || now.Sub(r.Finished) < time.Duration(ttl*float64(time.Second)) {
			continue
		}
		if js := f.jobs[r.JobID]; js != nil && js.LastRun == id {
			continue // the latest run stays: dependencies look at it
		}
		delete(f.runs, id)
		f.runRecords.Remove(id)
	}
}

// sortedKeys returns m's keys in order, for answers and plans that read
// the same from one run to the next.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// neverStarted reports whether an end says the task never ran: dropped on
// its way (Mesos' TASK_DROPPED), or unknown to the master and its agent
// when reconciled. The caller knows no update ever said it started. This
// framework is not partition-aware, so the master also answers TASK_LOST
// for a task on an unreachable agent, which may have started there: it is
// launched again as any lost task is, only without spending a retry.
func neverStarted(st *mesospb.TaskStatus) bool {
	switch st.GetState() {
	case mesospb.TaskState_TASK_DROPPED:
		return true
	case mesospb.TaskState_TASK_GONE, mesospb.TaskState_TASK_UNKNOWN, mesospb.TaskState_TASK_LOST:
		return st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION
	}
	return false
}
