package pets

import (
	"context"
	"slices"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Tick plans every set once: it stops the pets that must stop, settles
// replacements, finishes deletions; then it writes what changed,
// acknowledges the status updates that are now durable, sends kills, and
// asks the master for offers (or to stop them) as the work requires. Run
// calls it every TickInterval.
func (f *Framework) Tick(ctx context.Context) {
	f.mu.Lock()
	now := f.cfg.Now()
	wishes := map[string]string{} // what needs offers → its role
	for _, id := range sortedKeys(f.sets) {
		s := f.sets[id]
		f.settleReplacements(s, now)
		in := f.planInput(s, now)
		pl := makePlan(in)
		for _, k := range pl.sortedStops() {
			f.stop(in.Pets[k], pl.Stop[k])
		}
		for _, p := range in.Pets {
			if p != nil {
				delete(f.waiting, p.Name)
			}
		}
		for k, why := range pl.Waiting {
			f.waiting[petName(id, k)] = why
		}
		// Placement does not wait for the order: a pet that offers could
		// not place says why, whatever else it waits for.
		for _, k := range pl.Place {
			if st := f.spreading[petName(id, k)]; st != nil && st.why != "" {
				f.waiting[petName(id, k)] = st.why
			}
		}
		for _, k := range pl.Launch {
			wishes["launch "+petName(id, k)] = s.Spec.Role
		}
		for _, k := range pl.Place {
			wishes["place "+petName(id, k)] = s.Spec.Role
		}
		if s.Deleting && !slices.ContainsFunc(in.Pets, (*Pet).live) {
			f.finishDelete(s, now)
			continue
		}
		f.pruneHistory(s)
	}
	for id, r := range f.releases {
		wishes["release "+id] = r.Role
	}
	var rolesChanged []string
	if roles := f.wantedRoles(); !slices.Equal(roles, f.roles) {
		f.roles, rolesChanged = roles, roles
	}
	revive, suppress := f.offerWishes(wishes)
	var reconcile []*schedulerpb.Call_Reconcile_Task
	if now.Sub(f.lastReconcile) >= f.cfg.ReconcileInterval {
		f.lastReconcile = now
		reconcile = f.reconcileList(false)
		// Kills are not acknowledged; send them again until the task ends.
		for _, p := range f.pets {
			if p.live() && p.Killing != "" && p.Placement != nil {
				f.outbox.Kill(taskRef{p.TaskID, p.Placement.AgentID})
			}
		}
	}
	taken := f.outbox.Take()
	f.mu.Unlock()

	if !kit.FlushBeforeSending(ctx, f.durable, &f.outbox, taken, f.log, func() { f.resync = true }) {
		return
	}
	kit.Acknowledge(ctx, f.sched, f.log, taken.Acks, 1)
	for _, k := range taken.Kills {
		if err := f.sched.Kill(ctx, k.taskID, k.agentID); err != nil {
			f.log.Warn("kill not sent; it is sent again later", "task", k.taskID, "err", err)
		}
	}
	if err := f.recon.Tick(ctx, f.sched, now); err != nil {
		f.log.Debug("reconciliation not sent; asked again later", "err", err)
	}
	if rolesChanged != nil {
		if err := f.sched.SetRoles(ctx, rolesChanged); err != nil {
			f.log.Warn("could not update the framework's roles", "err", err)
			f.retrySync()
		}
	}
	if len(revive) > 0 {
		if err := f.sched.Revive(ctx, revive...); err != nil {
			f.retrySync()
		}
	}
	if len(suppress) > 0 {
		if err := f.sched.Suppress(ctx, suppress...); err != nil {
			f.retrySync()
		}
	}
	if len(reconcile) > 0 {
		_ = f.sched.Reconcile(ctx, reconcile...)
	}
}

func (f *Framework) retrySync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resync = true
	f.wished = map[string]bool{}
}

// stop asks for a pet's task to be killed; the pet is not relaunched
// before a terminal status confirms the kill.
func (f *Framework) stop(p *Pet, why string) {
	if !p.live() || p.Killing != "" {
		return
	}
	p.Killing, p.Ready = why, false
	f.probes.Stop(p.TaskID)
	f.markPet(p)
	agent := ""
	if p.Placement != nil {
		agent = p.Placement.AgentID
	}
	f.outbox.Kill(taskRef{p.TaskID, agent})
	f.log.Info("stopping pet", "pet", p.Name, "task", p.TaskID, "reason", why)
}

// settleReplacements moves replaced pets off their placement once their
// task has ended. A pet in doubt waits too: its task may still run where
// nobody can see it (an agent cut off, maybe only one way, still running
// it), and a replacement started meanwhile would be a second instance. So
// its kill is sent (and sent again) to end it once its agent is heard
// from, and the move waits for the end to be known, or for the agent to
// be marked gone (TASK_GONE_BY_OPERATOR), as a StatefulSet's pod waits
// for its node.
func (f *Framework) settleReplacements(s *setState, now time.Time) {
	for _, p := range f.petsOf(s.Spec.ID) {
		if p == nil || !p.Replace {
			continue
		}
		if p.live() {
			if p.InDoubt != "" {
				f.stop(p, stopReplace)
			}
			continue // stopping first
		}
		if p.Placement != nil {
			p.AvoidAgent, p.AvoidUntil = p.Placement.AgentID, now.Add(f.cfg.ReplaceAvoid)
			f.release(p, "pet replaced", "", now)
		}
		p.Replace, p.Restart, p.NotBefore, p.Failures = false, true, time.Time{}, 0
		f.markPet(p)
	}
}

// finishDelete removes a set whose pets have all stopped. Without purge
// the pets' records stay, holding their placements, so that a set
// created again with the same ID gets its data back.
func (f *Framework) finishDelete(s *setState, now time.Time) {
	id := s.Spec.ID
	for _, p := range f.petsOf(id) {
		if p == nil {
			continue
		}
		if s.Purge {
			f.release(p, "set purged", "", now)
			delete(f.pets, p.Name)
			f.petRecords.Remove(p.Name)
			delete(f.waiting, p.Name)
			continue
		}
		p.Revision, p.Restart, p.Replace = 0, false, false
		delete(f.waiting, p.Name)
		f.markPet(p)
	}
	delete(f.sets, id)
	f.setRecords.Remove(id)
	f.log.Info("set deleted", "set", id, "purged", s.Purge)
}

// pruneHistory drops revisions no pet runs any more.
func (f *Framework) pruneHistory(s *setState) {
	for rev := range s.History {
		used := rev == s.Revision
		for _, p := range f.petsOf(s.Spec.ID) {
			if p != nil && p.Revision == rev {
				used = true
			}
		}
		if !used {
			delete(s.History, rev)
			f.setRecords.Mark(s.Spec.ID)
		}
	}
}

// offerWishes decides which roles to revive (something new wants offers)
// and which to suppress (nothing wants any), so that an idle pets
// framework leaves offers to others.
func (f *Framework) offerWishes(wishes map[string]string) (revive, suppress []string) {
	wanted := map[string]bool{}
	reviveSet := map[string]bool{}
	for w, role := range wishes {
		wanted[role] = true
		if !f.wished[w] || f.suppressed[role] || f.resync {
			reviveSet[role] = true
		}
	}
	for _, role := range f.roles {
		if reviveSet[role] {
			revive = append(revive, role)
			f.suppressed[role] = false
		} else if !wanted[role] && (!f.suppressed[role] || f.resync) {
			suppress = append(suppress, role)
			f.suppressed[role] = true
		}
	}
	f.wished = map[string]bool{}
	for w := range wishes {
		f.wished[w] = true
	}
	f.resync = false
	return revive, suppress
}
