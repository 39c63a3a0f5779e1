package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors the API maps to status codes.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrNoRollback: the deployment deletes its app and cannot be undone.
	ErrNoRollback = errors.New("cannot be rolled back; cancel it with force=true")
)

// ConflictError says a deployment in progress holds the app.
type ConflictError struct {
	AppID, DeploymentID string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/%s'.", e.DeploymentID)
}

// Deploy creates or replaces an app (normalized already) and returns the
// deployment that rolls it out. A deployment in progress on the app is a
// ConflictError unless force, which cancels it and continues from
// wherever it left the instances. create fails with ErrExists if the app
// exists. The change is durable when Deploy returns.
func (f *Framework) Deploy(ctx context.Context, app *App, create, force bool) (*Deployment, error) {
	f.mu.Lock()
	err := f.checkChangeLocked(map[string]*App{app.ID: app}, nil, nil)
	var d *Deployment
	if err == nil {
		d, err = f.deployLocked(app, create, force, "")
	}
	if err == nil {
		f.startPlan([]*Deployment{d}, f.cfg.Now())
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	f.loop.Poke()
	return d, f.durable.Flush(ctx)
}

// checkChangeLocked checks what the apps and groups would be after a
// change (apps put, apps removed, groups put or removed with a nil
// spec): no app where a group is, and dependencies that exist and form
// no cycle.
func (f *Framework) checkChangeLocked(put map[string]*App, removed []string, groups map[string]*groupSpec) error {
	g := f.graphLocked()
	for id, a := range put {
		g.apps[id] = a
	}
	for _, id := range removed {
		delete(g.apps, id)
	}
	if len(groups) > 0 {
		merged := make(map[string]*groupSpec, len(g.groups)+len(groups))
		for id, spec := range g.groups {
			merged[id] = spec
		}
		for id, spec := range groups {
			if spec == nil {
				delete(merged, id)
			} else {
				merged[id] = spec
			}
		}
		g.groups = merged
	}
	v := &ValidationError{}
	for _, id := range sortedKeys(put) {
		for other := range g.apps {
			if isUnder(other, id) {
				v.add("/id", "%s is a group (it holds %s), so it cannot be an app", id, other)
				break
			}
		}
		for grp := parentOf(id); grp != "/"; grp = parentOf(grp) {
			if _, ok := g.apps[grp]; ok {
				v.add("/id", "%s would live inside %s, which is an app, not a group", id, grp)
			}
		}
		if _, ok := g.groups[id]; ok {
			v.add("/id", "%s is a group, so it cannot be an app", id)
		}
	}
	if len(v.Details) > 0 {
		return v
	}
	return g.check()
}

// rollbackTo, if set, is the runtime the app returns to.
func (f *Framework) deployLocked(app *App, create, force bool, rollbackTo string) (*Deployment, error) {
	now := f.cfg.Now()
	as := f.apps[app.ID]
	if as != nil && create {
		return nil, fmt.Errorf("an app with id [%s] %w", app.ID, ErrExists)
	}
	if err := f.takeOver(app.ID, force); err != nil {
		return nil, err
	}
	version := f.nextVersion(as, now)
	app.Version = version
	action := actionStart
	var from *App
	fromRuntime := ""
	if as != nil {
		fromRuntime = as.Runtime
	}
	if as == nil {
		as = &appState{Runtime: version}
		f.apps[app.ID] = as
	} else {
		from = as.Spec
		action = actionRestart
		switch {
		case sameRuntime(from, app):
			action = actionScale
		case rollbackTo != "":
			as.Runtime = rollbackTo
		default:
			as.Runtime = version
		}
		// A new spec deserves a fresh start: no inherited launch delay.
		as.Failures, as.DelayUntil = 0, time.Time{}
	}
	as.Spec = app
	f.keepVersion(as, app)
	d := f.startDeployment(app.ID, action, from, now)
	d.FromRuntime = fromRuntime
	return d, nil
}

// takeOver checks that no deployment holds the app, or cancels it when
// forced.
func (f *Framework) takeOver(appID string, force bool) error {
	d := f.deploymentOf(appID)
	if d == nil {
		return nil
	}
	if !force {
		return &ConflictError{AppID: appID, DeploymentID: d.ID}
	}
	f.cancelDeployment(d, "superseded by a forced change")
	return nil
}

func (f *Framework) cancelDeployment(d *Deployment, why string) {
	delete(f.deployments, d.ID)
	f.deploymentRecords.Remove(d.ID)
	f.log.Info("deployment cancelled", "id", d.ID, "plan", d.planID(), "app", d.AppID, "why", why)
	f.planFailed(d.planID(), why, f.cfg.Now())
}

// startDeployment records one app's deployment; the caller announces it
// with startPlan, with the others of the same change.
func (f *Framework) startDeployment(appID, action string, from *App, now time.Time) *Deployment {
	d := &Deployment{ID: newID(), Version: versionString(now), AppID: appID, Action: action, From: from, Started: now}
	f.deployments[d.ID] = d
	f.deploymentRecords.Mark(d.ID)
	f.appRecords.Mark(appID)
	f.log.Info("deployment started", "id", d.ID, "app", appID, "action", action)
	return d
}

// nextVersion is now as a version string, later than the app's last.
func (f *Framework) nextVersion(as *appState, now time.Time) string {
	v := versionString(now)
	if as != nil && as.Spec != nil {
		last, err := time.Parse("2006-01-02T15:04:05.000Z", as.Spec.Version)
		if err == nil && !now.After(last) {
			v = versionString(last.Add(time.Millisecond))
		}
	}
	return v
}

// keepVersion records a version of the app, dropping the oldest beyond
// maxVersions.
func (f *Framework) keepVersion(as *appState, app *App) {
	b, _ := json.Marshal(app)
	f.durable.Put(keyVersions+"/"+storeKey(app.ID)+"/"+app.Version, b)
	as.Versions = append(as.Versions, app.Version)
	for len(as.Versions) > maxVersions {
		f.durable.Delete(keyVersions + "/" + storeKey(app.ID) + "/" + as.Versions[0])
		as.Versions = as.Versions[1:]
	}
}

// Delete stops an app: its instances are killed, then it is forgotten.
func (f *Framework) Delete(ctx context.Context, appID string, force bool) (*Deployment, error) {
	return f.deployWhole(ctx, appID, force, func(as *appState, now time.Time) *Deployment {
		return f.startDeployment(appID, actionStop, as.Spec, now)
	})
}

// Restart replaces every instance, honouring the upgrade strategy.
func (f *Framework) Restart(ctx context.Context, appID string, force bool) (*Deployment, error) {
	return f.deployWhole(ctx, appID, force, func(as *appState, now time.Time) *Deployment {
		app := *as.Spec
		from, prevRuntime := as.Spec, as.Runtime
		app.Version = f.nextVersion(as, now)
		as.Spec, as.Runtime = &app, app.Version
		as.Failures, as.DelayUntil = 0, time.Time{}
		f.keepVersion(as, &app)
		d := f.startDeployment(appID, actionRestart, from, now)
		d.FromRuntime = prevRuntime
		return d
	})
}

// deployWhole starts a deployment of a whole existing app that no
// deployment holds (see takeOver): start, called with the framework's
// lock held, records it; deployWhole announces it and writes it before
// it returns.
func (f *Framework) deployWhole(ctx context.Context, appID string, force bool, start func(as *appState, now time.Time) *Deployment) (*Deployment, error) {
	f.mu.Lock()
	as := f.apps[appID]
	if as == nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("app '%s' does not exist: %w", appID, ErrNotFound)
	}
	if err := f.takeOver(appID, force); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	now := f.cfg.Now()
	d := start(as, now)
	f.startPlan([]*Deployment{d}, now)
	f.mu.Unlock()
	f.loop.Poke()
	return d, f.durable.Flush(ctx)
}

// Rollback cancels a deployment (every app's part of it). Without force
// each app goes back to the spec it had before (a new app is deleted);
// with force it stays as it is. It returns the deployment that rolls
// back, nil when forced.
func (f *Framework) Rollback(ctx context.Context, id string, force bool) (*Deployment, error) {
	f.mu.Lock()
	members := f.planMembers(id)
	if d := f.deployments[id]; d != nil && len(members) == 0 {
		members = []*Deployment{d}
	}
	if len(members) == 0 {
		f.mu.Unlock()
		return nil, fmt.Errorf("deployment '%s' does not exist: %w", id, ErrNotFound)
	}
	if force {
		for _, d := range members {
			f.cancelDeployment(d, "cancelled by request")
		}
		f.mu.Unlock()
		return nil, f.durable.Flush(ctx)
	}
	for _, d := range members {
		if d.Action == actionStop && d.From != nil {
			f.mu.Unlock()
			return nil, fmt.Errorf("deployment '%s' deletes app %s and %w", id, d.AppID, ErrNoRollback)
		}
	}
	var backs []*Deployment
	for _, d := range members {
		var back *Deployment
		switch {
		case d.From == nil:
			f.cancelDeployment(d, "rolled back")
			back = f.startDeployment(d.AppID, actionStop, f.apps[d.AppID].Spec, f.cfg.Now())
		default:
			prev := *d.From
			f.cancelDeployment(d, "rolled back")
			var err error
			if back, err = f.deployLocked(&prev, false, true, d.FromRuntime); err != nil {
				f.mu.Unlock()
				return nil, err
			}
		}
		backs = append(backs, back)
	}
	f.startPlan(backs, f.cfg.Now())
	f.mu.Unlock()
	f.loop.Poke()
	return backs[0], f.durable.Flush(ctx)
}

// KillTasks kills instances of an app; with scale the app's instance count
// drops by as many, otherwise they are replaced.
func (f *Framework) KillTasks(ctx context.Context, appID string, match func(*Instance) bool, scale, force bool) ([]Instance, *Deployment, error) {
	f.mu.Lock()
	as := f.apps[appID]
	if as == nil {
		f.mu.Unlock()
		return nil, nil, fmt.Errorf("app '%s' does not exist: %w", appID, ErrNotFound)
	}
	now := f.cfg.Now()
	var killed []Instance
	for _, in := range f.instancesOf(appID) {
		if match(in) && !in.killing() {
			killed = append(killed, *in)
		}
	}
	var d *Deployment
	if scale && len(killed) > 0 {
		if err := f.takeOver(appID, force); err != nil {
			f.mu.Unlock()
			return nil, nil, err
		}
		app := *as.Spec
		n := max(0, app.instances()-len(killed))
		app.Instances = &n
		var err error
		if d, err = f.deployLocked(&app, false, true, ""); err != nil {
			f.mu.Unlock()
			return nil, nil, err
		}
		f.startPlan([]*Deployment{d}, now)
	}
	for _, k := range killed {
		f.kill(f.instances[k.ID], "killed through the API", now)
	}
	f.mu.Unlock()
	f.loop.Poke()
	return killed, d, f.durable.Flush(ctx)
}

// ResetDelay clears an app's launch delay (DELETE /v2/queue/{app}/delay).
func (f *Framework) ResetDelay(ctx context.Context, appID string) error {
	f.mu.Lock()
	as := f.apps[appID]
	if as == nil {
		f.mu.Unlock()
		return fmt.Errorf("app '%s' does not exist: %w", appID, ErrNotFound)
	}
	as.Failures, as.DelayUntil = 0, time.Time{}
	f.appRecords.Mark(appID)
	f.mu.Unlock()
	f.loop.Poke()
	return f.durable.Flush(ctx)
}

// AppVersion returns a stored version of an app.
func (f *Framework) AppVersion(ctx context.Context, appID, version string) (*App, error) {
	e, err := f.cfg.Store.Get(ctx, keyVersions+"/"+storeKey(appID)+"/"+version)
	if err != nil {
		return nil, fmt.Errorf("version %s of app %s: %w", version, appID, ErrNotFound)
	}
	var a App
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return nil, fmt.Errorf("version %s of app %s: %w", version, appID, err)
	}
	return &a, nil
}
