package service

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
)

// groupRoutes serves /v2/groups[/{id}]:
//
//	GET     the group and everything inside
//	POST    create a group inside it (the root if none is named)
//	PUT     replace its content (apps left out stop), or {"scaleBy": x}
//	DELETE  stop every app inside, dependents first, and forget it
func (f *Framework) groupRoutes(w http.ResponseWriter, r *http.Request) {
	id, err := groupID(strings.TrimPrefix(r.URL.Path, "/v2/groups"))
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "group id: %v", err)
		return
	}
	force, err := boolParam(r, "force", false)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	switch r.Method {
	case http.MethodGet:
		f.mu.Lock()
		defer f.mu.Unlock()
		all := f.allGroups()
		if !all[id] {
			kit.WriteError(w, http.StatusNotFound, "Group '%s' does not exist", id)
			return
		}
		kit.WriteJSON(w, http.StatusOK, f.groupView(id, all))
	case http.MethodPost, http.MethodPut:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		spec, err := DecodeGroup(body)
		if err != nil {
			writeFailure(w, err)
			return
		}
		var d *Deployment
		var version string
		status := http.StatusOK
		if r.Method == http.MethodPost {
			status = http.StatusCreated
			d, version, err = f.CreateGroup(r.Context(), id, spec)
		} else {
			d, version, err = f.UpdateGroup(r.Context(), id, spec, force)
		}
		if err != nil {
			writeFailure(w, err)
			return
		}
		writeDeployment(w, status, d, version)
	case http.MethodDelete:
		d, version, err := f.DeleteGroup(r.Context(), id, force)
		if err != nil {
			writeFailure(w, err)
			return
		}
		writeDeployment(w, http.StatusOK, d, version)
	default:
		kit.WriteError(w, http.StatusMethodNotAllowed, "%s is not supported on %s", r.Method, r.URL.Path)
	}
}

// writeDeployment answers a change with its deployment; a change that
// needed none (an empty group) has an empty deploymentId.
func writeDeployment(w http.ResponseWriter, status int, d *Deployment, version string) {
	id := ""
	if d != nil {
		id = d.planID()
	}
	kit.WriteJSON(w, status, map[string]string{"deploymentId": id, "version": version})
}

// CreateGroup creates a group inside parent, with its apps and groups,
// deployed in dependency order.
func (f *Framework) CreateGroup(ctx context.Context, parent string, spec *GroupSpec) (*Deployment, string, error) {
	if spec.ID == "" {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{"a new group needs an id"}}}}
	}
	if spec.ScaleBy != nil {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/scaleBy", Errors: []string{"scaleBy changes an existing group: PUT it"}}}}
	}
	now := f.cfg.Now()
	version := versionString(now)
	content, err := spec.flatten(parent, version)
	if err != nil {
		return nil, "", err
	}
	gid, _ := resolvePath(parent, spec.ID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.allGroups()[gid] {
		return nil, "", fmt.Errorf("group %s %w; PUT it to change it", gid, ErrExists)
	}
	if _, ok := f.apps[gid]; ok {
		return nil, "", fmt.Errorf("%s is an app: a group of that id %w", gid, ErrExists)
	}
	if err := f.checkChangeLocked(content.apps, nil, groupChanges(content.groups, nil)); err != nil {
		return nil, "", err
	}
	d, err := f.applyGroupLocked(content, nil, nil, now)
	if err != nil {
		return nil, "", err
	}
	return d, version, f.flushUnlocked(ctx)
}

// UpdateGroup replaces what a group holds (creating it if need be), or
// scales every app inside by spec.ScaleBy.
func (f *Framework) UpdateGroup(ctx context.Context, id string, spec *GroupSpec, force bool) (*Deployment, string, error) {
	now := f.cfg.Now()
	version := versionString(now)
	if spec.ScaleBy != nil {
		return f.scaleGroup(ctx, id, spec, force, version)
	}
	if spec.ID == "" {
		spec.ID = id
	}
	content, err := spec.flatten(parentOf(id), version)
	if err != nil {
		return nil, "", err
	}
	if gid, _ := resolvePath(parentOf(id), spec.ID); gid != id {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{fmt.Sprintf("the body's id %s does not match the path's %s", gid, id)}}}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var removed, touched []string
	changed := make(map[string]*App)
	for appID := range f.apps {
		if !isUnder(appID, id) {
			continue
		}
		if content.apps[appID] == nil {
			removed = append(removed, appID)
			touched = append(touched, appID)
		}
	}
	for appID, app := range content.apps {
		as := f.apps[appID]
		if as != nil && sameSpec(as.Spec, app) {
			continue
		}
		changed[appID] = app
		if as != nil {
			touched = append(touched, appID)
		}
	}
	for _, appID := range touched {
		if d := f.deploymentOf(appID); d != nil && !force {
			return nil, "", &ConflictError{AppID: appID, DeploymentID: d.planID()}
		}
	}
	var dropped []string
	for gid := range f.groups {
		if (gid == id || isUnder(gid, id)) && content.groups[gid] == nil {
			dropped = append(dropped, gid)
		}
	}
	if err := f.checkChangeLocked(changed, removed, groupChanges(content.groups, dropped)); err != nil {
		return nil, "", err
	}
	for _, appID := range touched {
		_ = f.takeOver(appID, true)
	}
	d, err := f.applyGroupLocked(&groupContent{apps: changed, groups: content.groups}, removed, dropped, now)
	if err != nil {
		return nil, "", err
	}
	return d, version, f.flushUnlocked(ctx)
}

// scaleGroup multiplies the instances of every app in a group.
func (f *Framework) scaleGroup(ctx context.Context, id string, spec *GroupSpec, force bool, version string) (*Deployment, string, error) {
	factor := *spec.ScaleBy
	if len(spec.Apps) > 0 || len(spec.Groups) > 0 || len(spec.Dependencies) > 0 {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/scaleBy", Errors: []string{"scaleBy scales the group as it is: send it alone"}}}}
	}
	if factor < 0 || math.IsNaN(factor) || math.IsInf(factor, 0) {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/scaleBy", Errors: []string{fmt.Sprintf("must be a non-negative number, got %v", factor)}}}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.allGroups()[id] {
		return nil, "", fmt.Errorf("group '%s' does not exist: %w", id, ErrNotFound)
	}
	apps := make(map[string]*App)
	for appID, as := range f.apps {
		if !isUnder(appID, id) {
			continue
		}
		if d := f.deploymentOf(appID); d != nil && !force {
			return nil, "", &ConflictError{AppID: appID, DeploymentID: d.planID()}
		}
		app := *as.Spec
		n := scaled(app.instances(), factor)
		if n > maxInstances {
			return nil, "", &ValidationError{Details: []Violation{{Path: "/scaleBy", Errors: []string{fmt.Sprintf("%s would have %d instances; at most %d", appID, n, maxInstances)}}}}
		}
		app.Instances = &n
		apps[appID] = &app
	}
	for appID := range apps {
		_ = f.takeOver(appID, true)
	}
	d, err := f.applyGroupLocked(&groupContent{apps: apps}, nil, nil, f.cfg.Now())
	if err != nil {
		return nil, "", err
	}
	return d, version, f.flushUnlocked(ctx)
}

// DeleteGroup stops every app inside a group, dependents first, and
// forgets the group and the groups inside it.
func (f *Framework) DeleteGroup(ctx context.Context, id string, force bool) (*Deployment, string, error) {
	if id == "/" {
		return nil, "", &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{"name a group: the root group cannot be deleted (delete its apps and groups by name)"}}}}
	}
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.allGroups()[id] {
		return nil, "", fmt.Errorf("group '%s' does not exist: %w", id, ErrNotFound)
	}
	var removed []string
	for appID := range f.apps {
		if isUnder(appID, id) {
			if d := f.deploymentOf(appID); d != nil && !force {
				return nil, "", &ConflictError{AppID: appID, DeploymentID: d.planID()}
			}
			removed = append(removed, appID)
		}
	}
	for _, appID := range removed {
		_ = f.takeOver(appID, true)
	}
	var dropped []string
	for gid := range f.groups {
		if gid == id || isUnder(gid, id) {
			dropped = append(dropped, gid)
		}
	}
	d, err := f.applyGroupLocked(&groupContent{}, removed, dropped, now)
	if err != nil {
		return nil, "", err
	}
	return d, versionString(now), f.flushUnlocked(ctx)
}

// applyGroupLocked records a group change and starts its deployments as
// one plan: apps put (created or changed), apps removed, groups recorded
// and dropped. The plan's steps are numbered before the dropped groups
// are forgotten, so that their dependencies still order the stops.
func (f *Framework) applyGroupLocked(c *groupContent, removed, dropped []string, now time.Time) (*Deployment, error) {
	for id, spec := range c.groups {
		f.groups[id] = spec
		b, _ := json.Marshal(spec)
		f.durable.Put(keyGroups+"/"+storeKey(id), b)
	}
	var members []*Deployment
	for _, id := range sortedKeys(c.apps) {
		d, err := f.deployLocked(c.apps[id], false, true, "")
		if err != nil {
			return nil, err
		}
		members = append(members, d)
	}
	for _, id := range removed {
		members = append(members, f.startDeployment(id, actionStop, f.apps[id].Spec, now))
	}
	f.startPlan(members, now)
	for _, id := range dropped {
		delete(f.groups, id)
		f.durable.Delete(keyGroups + "/" + storeKey(id))
	}
	f.loop.Poke()
	if len(members) == 0 {
		return nil, nil
	}
	return members[0], nil
}

// flushUnlocked writes the change with f.mu released, for callers that
// hold it through a deferred unlock.
func (f *Framework) flushUnlocked(ctx context.Context) error {
	f.mu.Unlock()
	defer f.mu.Lock()
	return f.durable.Flush(ctx)
}

// groupChanges is the groups a change records (put) and forgets (nil).
func groupChanges(put map[string]*groupSpec, dropped []string) map[string]*groupSpec {
	out := make(map[string]*groupSpec, len(put)+len(dropped))
	for _, id := range dropped {
		out[id] = nil
	}
	for id, spec := range put {
		out[id] = spec
	}
	return out
}

// sameSpec reports whether an app would be deployed unchanged.
func sameSpec(a, b *App) bool {
	x, y := *a, *b
	x.Version, y.Version = "", ""
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
