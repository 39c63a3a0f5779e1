package service

import (
	"cmp"
	"slices"
	"time"
)

// A plan is what Marathon calls a deployment: one change, possibly of
// many apps, in steps. corral keeps one Deployment per app (each app's
// rollout is reconciled on its own) and groups them by plan ID, which is
// what /v2/deployments, the deployment events and the clients see.

// planAction is one app's part in a plan, in Marathon's shape.
type planAction struct {
	Action string `json:"action"`
	App    string `json:"app"`
}

// planInfo is what a plan looked like when it started: its steps and
// the apps before and after, for the events and views of its whole life.
type planInfo struct {
	ID, Version      string
	Steps            [][]planAction
	Original, Target []*App
}

// startPlan numbers the steps of the deployments just started as one
// change, remembers the plan and announces it. A single deployment is
// a plan of its own under its own ID.
func (f *Framework) startPlan(members []*Deployment, now time.Time) string {
	if len(members) == 0 {
		return ""
	}
	id := members[0].ID
	if len(members) > 1 {
		id = newID()
		// Stops come first, dependents before what they depend on; then
		// the rest, dependencies first.
		var stops, starts []string
		for _, d := range members {
			if d.Action == actionStop {
				stops = append(stops, d.AppID)
			} else {
				starts = append(starts, d.AppID)
			}
		}
		g := f.graphLocked()
		stopSteps, startSteps := g.steps(stops, true), g.steps(starts, false)
		offset := 0
		for _, s := range stopSteps {
			offset = max(offset, s)
		}
		for _, d := range members {
			d.Plan, d.Step = id, startSteps[d.AppID]+offset
			if d.Action == actionStop {
				d.Step = stopSteps[d.AppID]
			}
			f.deploymentRecords.Mark(d.ID)
		}
	}
	info := &planInfo{ID: id, Version: members[0].Version}
	byStep := map[int][]planAction{}
	for _, d := range members {
		byStep[max(d.Step, 1)] = append(byStep[max(d.Step, 1)], planAction{Action: d.Action, App: d.AppID})
		if d.From != nil {
			info.Original = append(info.Original, d.From)
		}
		if as := f.apps[d.AppID]; as != nil && d.Action != actionStop {
			info.Target = append(info.Target, as.Spec)
		}
	}
	for _, s := range sortedInts(mapKeys(byStep)) {
		acts := byStep[s]
		slices.SortFunc(acts, func(a, b planAction) int { return cmp.Compare(a.App, b.App) })
		info.Steps = append(info.Steps, acts)
	}
	f.plans[id] = info
	f.bus.publish("deployment_info", map[string]any{"plan": info.marathon(), "currentStep": stepJSON(info.Steps[0]), "timestamp": now})
	return id
}

// plan returns what is known of a plan: as it started, or, for plans
// started before this framework instance, rebuilt from what remains.
func (f *Framework) plan(id string) *planInfo {
	if p := f.plans[id]; p != nil {
		return p
	}
	members := f.planMembers(id)
	if len(members) == 0 {
		return nil
	}
	p := &planInfo{ID: id, Version: members[0].Version}
	byStep := map[int][]planAction{}
	for _, d := range members {
		byStep[max(d.Step, 1)] = append(byStep[max(d.Step, 1)], planAction{Action: d.Action, App: d.AppID})
	}
	for _, s := range sortedInts(mapKeys(byStep)) {
		p.Steps = append(p.Steps, byStep[s])
	}
	return p
}

// planMembers lists the app deployments of a plan still in progress.
func (f *Framework) planMembers(id string) []*Deployment {
	var out []*Deployment
	for _, d := range f.deployments {
		if d.planID() == id {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *Deployment) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.AppID, b.AppID))
	})
	return out
}

// marathon is the plan in Marathon's DeploymentPlan shape.
func (p *planInfo) marathon() map[string]any {
	steps := make([]map[string]any, len(p.Steps))
	for i, s := range p.Steps {
		steps[i] = stepJSON(s)
	}
	return map[string]any{
		"id": p.ID, "version": p.Version, "steps": steps,
		"original": rootGroupOf(p.Original, p.Version), "target": rootGroupOf(p.Target, p.Version),
	}
}

func stepJSON(actions []planAction) map[string]any {
	return map[string]any{"actions": actions}
}

// rootGroupOf is a root group holding the apps a plan changes.
func rootGroupOf(apps []*App, version string) map[string]any {
	list := make([]*App, 0, len(apps))
	list = append(list, apps...)
	return map[string]any{"id": "/", "apps": list, "groups": []any{}, "dependencies": []string{}, "version": version}
}

// planFinished publishes the end of a step, and of the plan once its last
// app deployment is done. Call it after removing the finished ones.
func (f *Framework) planFinished(id string, step int, now time.Time) {
	p := f.plan(id)
	if p == nil {
		return
	}
	rest := f.planMembers(id)
	stepDone := !slices.ContainsFunc(rest, func(d *Deployment) bool { return max(d.Step, 1) <= step })
	if stepDone && step >= 1 && step <= len(p.Steps) {
		f.bus.publish("deployment_step_success", map[string]any{"plan": p.marathon(), "currentStep": stepJSON(p.Steps[step-1]), "timestamp": now})
		if step < len(p.Steps) && len(rest) > 0 {
			f.bus.publish("deployment_info", map[string]any{"plan": p.marathon(), "currentStep": stepJSON(p.Steps[step]), "timestamp": now})
		}
	}
	if len(rest) == 0 {
		f.bus.publish("deployment_success", map[string]any{"id": id, "plan": p.marathon(), "timestamp": now})
		delete(f.plans, id)
	}
}

// planFailed publishes that a plan was cancelled or rolled back.
func (f *Framework) planFailed(id, why string, now time.Time) {
	p := f.plan(id)
	if p == nil {
		return
	}
	f.bus.publish("deployment_failed", map[string]any{"id": id, "plan": p.marathon(), "reason": why, "timestamp": now})
	if len(f.planMembers(id)) == 0 {
		delete(f.plans, id)
	}
}

// planView is a plan as /v2/deployments shows it.
func (f *Framework) planView(id string) DeploymentView {
	p := f.plan(id)
	members := f.planMembers(id)
	v := DeploymentView{ID: id, Version: p.Version, Progress: map[string]int{}, CurrentActions: []map[string]any{}}
	for _, s := range p.Steps {
		acts := make([]map[string]any, len(s))
		for i, a := range s {
			acts[i] = map[string]any{"action": a.Action, "app": a.App}
			v.AffectedApps = append(v.AffectedApps, a.App)
		}
		v.Steps = append(v.Steps, map[string]any{"actions": acts})
	}
	v.TotalSteps = len(p.Steps)
	v.CurrentStep = v.TotalSteps
	if len(members) > 0 {
		v.CurrentStep = max(members[0].Step, 1)
	}
	now := f.cfg.Now()
	for _, d := range members {
		one := f.deploymentView(d)
		for k, n := range one.Progress {
			v.Progress[k] += n
		}
		if max(d.Step, 1) == v.CurrentStep {
			v.CurrentActions = append(v.CurrentActions, map[string]any{"action": d.Action, "app": d.AppID})
		}
		if why := f.waitingFor(d, now); why != "" && v.Waiting == "" {
			v.Waiting = d.AppID + " waits: " + why
		}
	}
	return v
}

func sortedInts(s []int) []int {
	slices.Sort(s)
	return s
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
