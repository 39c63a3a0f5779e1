package service

import (
	"context"
	"math"
	"slices"
	"time"
)

// instancesOf lists an app's live instances (not yet terminal).
func (f *Framework) instancesOf(appID string) []*Instance {
	var out []*Instance
	for _, in := range f.instances {
		if in.AppID == appID {
			out = append(out, in)
		}
	}
	return out
}

// deploymentOf returns the app's deployment in progress, if any.
func (f *Framework) deploymentOf(appID string) *Deployment {
	for _, d := range f.deployments {
		if d.AppID == appID {
			return d
		}
	}
	return nil
}

// inactive reports whether an unreachable instance has been away long
// enough to be replaced.
func inactive(in *Instance, app *App, now time.Time) bool {
	if !in.unreachable() || app.UnreachableStrategy.Disabled {
		return false
	}
	return now.Sub(in.UnreachableSince) >= seconds(*app.UnreachableStrategy.InactiveAfterSeconds)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// converge decides, for one app, which instances to kill and how many to
// launch (as.wanted), honouring the upgrade strategy while instances of an
// older runtime remain.
func (f *Framework) converge(ctx context.Context, as *appState, now time.Time) {
	app := as.Spec
	dep := f.deploymentOf(app.ID)
	all := f.instancesOf(app.ID)
	as.wanted = 0
	if dep != nil && dep.Action == actionStop {
		if f.waitingFor(dep, now) != "" {
			return // apps that depend on it stop first
		}
		for _, in := range all {
			if !in.killing() {
				f.kill(in, "app deleted", now)
			}
		}
		return
	}
	var old, cur []*Instance
	for _, in := range all {
		if in.Replaced && now.Sub(in.UnreachableSince) >= seconds(*app.UnreachableStrategy.ExpungeAfterSeconds) {
			// Forgotten: if it ever comes back it is a stranger, and killed.
			f.log.Info("expunging an unreachable instance", "app", app.ID, "task", in.ID)
			f.forget(in.ID)
			continue
		}
		if in.killing() || in.Replaced {
			continue
		}
		if inactive(in, app, now) {
			// Its place is given to a new instance; if it comes back it is
			// killed (see update).
			in.Replaced = true
			f.instanceRecords.Mark(in.ID)
			f.log.Info("instance unreachable too long; replacing it", "app", app.ID, "task", in.ID, "since", in.UnreachableSince)
			continue
		}
		if in.Runtime == as.Runtime && !f.draining[in.AgentID] {
			cur = append(cur, in)
		} else {
			old = append(old, in)
		}
	}
	f.healthKills(as, cur, now)
	if dep != nil && f.waitingFor(dep, now) != "" {
		// Nothing starts or is replaced before what it depends on is
		// healthy (see deps.go).
		f.ensureProbes(ctx, as, cur)
		return
	}
	n := app.instances()
	drain := slices.ContainsFunc(old, func(in *Instance) bool { return f.draining[in.AgentID] })
	if len(old) > 0 && ((dep != nil && dep.Action == actionRestart) || drain) {
		f.roll(as, old, cur, now)
	} else {
		live := append(slices.Clone(old), cur...)
		if len(live) > n {
			for _, in := range f.pickVictims(app, live, len(live)-n) {
				f.kill(in, "scaled down", now)
			}
		}
		as.wanted = max(0, n-len(live))
	}
	f.ensureProbes(ctx, as, cur)
}

// roll replaces old instances with current ones within the upgrade
// strategy: never fewer than minimumHealthCapacity × instances healthy,
// never more than (1 + maximumOverCapacity) × instances running.
func (f *Framework) roll(as *appState, old, cur []*Instance, now time.Time) {
	app := as.Spec
	n := app.instances()
	minHealthy := int(math.Ceil(float64(n) * *app.UpgradeStrategy.MinimumHealthCapacity))
	maxCapacity := max(n, int(math.Floor(float64(n)*(1+*app.UpgradeStrategy.MaximumOverCapacity))))
	healthy := 0
	for _, in := range old {
		if in.healthy(app) {
			healthy++
		}
	}
	for _, in := range cur {
		if in.ready(app) {
			healthy++
		}
	}
	// Unhealthy old instances go first: killing them costs no capacity.
	victims := f.pickVictims(app, old, len(old))
	killed := 0
	for _, in := range victims {
		cost := 0
		if in.healthy(app) {
			cost = 1
		}
		if healthy-cost < minHealthy {
			continue
		}
		why := "replaced by version " + app.Version
		if f.draining[in.AgentID] {
			why = "moved off an agent going down for maintenance"
		}
		f.kill(in, why, now)
		healthy -= cost
		killed++
	}
	room := maxCapacity - (len(old) - killed + len(cur))
	as.wanted = max(0, min(n-len(cur), room))
}

// pickVictims orders instances to kill: not running or unhealthy first,
// then by the app's killSelection; it returns the first k.
func (f *Framework) pickVictims(app *App, ins []*Instance, k int) []*Instance {
	ins = slices.Clone(ins)
	slices.SortStableFunc(ins, func(a, b *Instance) int {
		ah, bh := a.healthy(app), b.healthy(app)
		if ah != bh {
			if !ah {
				return -1
			}
			return 1
		}
		c := a.StagedAt.Compare(b.StagedAt)
		if app.KillSelection == killYoungestFirst {
			c = -c
		}
		return c
	})
	return ins[:min(k, len(ins))]
}

// healthKills kills instances that have failed their health check for
// maxConsecutiveFailures intervals, one per app per interval, so that a
// sick dependency making every instance fail cannot take the whole app
// down at once.
func (f *Framework) healthKills(as *appState, cur []*Instance, now time.Time) {
	app := as.Spec
	if len(app.HealthChecks) == 0 {
		return
	}
	hc := app.HealthChecks[0]
	if *hc.MaxConsecutiveFailures == 0 {
		return // Marathon: 0 means never kill
	}
	interval := seconds(*hc.IntervalSeconds)
	window := max(interval, 5*time.Second)
	if now.Sub(as.LastHealth) < window {
		return
	}
	allowed := max(1, int(float64(app.instances())*(1-*app.UpgradeStrategy.MinimumHealthCapacity)))
	unhealthy := 0
	for _, in := range f.instancesOf(app.ID) {
		if in.KillReason == reasonHealthKill && in.killing() {
			unhealthy++
		}
	}
	for _, in := range cur {
		if unhealthy >= allowed {
			return
		}
		if in.UnhealthySince.IsZero() || !in.running() {
			continue
		}
		if now.Sub(in.UnhealthySince) >= time.Duration(*hc.MaxConsecutiveFailures-1)*interval {
			f.log.Info("killing an unhealthy instance", "app", app.ID, "task", in.ID, "unhealthy since", in.UnhealthySince)
			f.kill(in, reasonHealthKill, now)
			as.LastHealth = now
			f.appRecords.Mark(app.ID)
			return
		}
	}
}

const reasonHealthKill = "failed health checks"

// kill asks the master to kill an instance (sent after the next flush).
func (f *Framework) kill(in *Instance, why string, now time.Time) {
	in.KillAt, in.KillReason = now, why
	f.instanceRecords.Mark(in.ID)
	f.outbox.Kill(in)
	ev := map[string]any{"appId": in.AppID, "taskId": in.ID, "instanceId": in.ID, "version": in.Version,
		"reason": why, "host": in.Host, "slaveId": in.AgentID, "timestamp": now}
	if why == reasonHealthKill {
		f.bus.publish("unhealthy_instance_kill_event", ev)
	} else {
		f.bus.publish(corralEvent("instance_kill"), ev)
	}
}

// retryKills asks again for kills that have not been confirmed.
func (f *Framework) retryKills(now time.Time) {
	for _, in := range f.instances {
		if in.killing() && now.Sub(in.KillAt) >= f.cfg.KillRetry {
			in.KillAt = now
			f.outbox.Kill(in)
		}
	}
}

// finishDeployments ends deployments whose app has converged.
func (f *Framework) finishDeployments(now time.Time) {
	var finished []*Deployment
	for id, d := range f.deployments {
		if f.waitingFor(d, now) != "" {
			continue
		}
		as := f.apps[d.AppID]
		done := false
		switch {
		case d.Action == actionStop:
			done = len(f.instancesOf(d.AppID)) == 0
			if done && as != nil {
				f.removeApp(d.AppID)
			}
		case as == nil:
			done = true
		default:
			done = f.converged(as, now)
		}
		if done {
			delete(f.deployments, id)
			f.deploymentRecords.Remove(id)
			f.log.Info("deployment finished", "id", id, "plan", d.planID(), "app", d.AppID, "action", d.Action, "took", now.Sub(d.Started).Round(time.Millisecond))
			finished = append(finished, d)
		}
	}
	type planStep struct {
		plan string
		step int
	}
	seen := make(map[planStep]bool)
	for _, d := range finished {
		k := planStep{d.planID(), max(d.Step, 1)}
		if !seen[k] {
			seen[k] = true
			f.planFinished(k.plan, k.step, now)
		}
	}
}

// converged: exactly the wanted number of instances, all of the current
// runtime, all ready, and every instance killed on the way confirmed gone.
func (f *Framework) converged(as *appState, now time.Time) bool {
	n := 0
	for _, in := range f.instancesOf(as.Spec.ID) {
		if in.killing() {
			return false
		}
		if in.Replaced {
			continue
		}
		if in.Runtime != as.Runtime || !in.ready(as.Spec) || inactive(in, as.Spec, now) {
			return false
		}
		n++
	}
	return n == as.Spec.instances()
}

// removeApp forgets a deleted app once its instances are gone.
func (f *Framework) removeApp(appID string) {
	as := f.apps[appID]
	delete(f.apps, appID)
	f.appRecords.Remove(appID)
	for _, v := range as.Versions {
		f.durable.Delete(keyVersions + "/" + storeKey(appID) + "/" + v)
	}
	f.bus.publish("app_terminated_event", map[string]any{"appId": appID, "timestamp": f.cfg.Now()})
}

// wantsOffers reports whether any app waits for a launch.
func (f *Framework) wantsOffers(now time.Time) bool {
	want := false
	for _, as := range f.apps {
		switch {
		case as.wanted > 0:
			want = true
			if as.Since.IsZero() {
				as.Since = now
			}
		case !as.Since.IsZero():
			as.Since, as.spreadHeld, as.spreadRevivedFor = time.Time{}, time.Time{}, time.Time{}
			as.Offers.reset()
		}
	}
	return want
}
