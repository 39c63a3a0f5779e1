package service

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Dependencies order deployments, as in Marathon: an app starts only once
// every app it depends on (directly, or through a group it or one of its
// groups depends on) is healthy, and the apps of one removal stop in the
// reverse order. They say nothing about instances that are already
// running: a dependency that falls ill later does not stop its dependents.

// groupSpec is a group created through /v2/groups. Groups that only
// exist because apps live under them need no record; these carry
// dependencies every app inside inherits, or are empty on purpose.
type groupSpec struct {
	ID           string   `json:"id"`
	Dependencies []string `json:"dependencies,omitempty"`
	Version      string   `json:"version,omitempty"`
}

// parentOf is the group an app or group lives in ("/a/b" → "/a").
func parentOf(id string) string {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "/"
	}
	return id[:i]
}

// isUnder reports whether id lies inside group (at any depth).
func isUnder(id, group string) bool {
	return group == "/" || strings.HasPrefix(id, group+"/")
}

// resolvePath makes p absolute against base, with "." and ".." as in
// Marathon's relative paths, and checks each segment.
func resolvePath(base, p string) (string, error) {
	if p == "" {
		return "", errors.New("the path is empty")
	}
	var parts []string
	if !strings.HasPrefix(p, "/") {
		parts = strings.Split(strings.Trim(base, "/"), "/")
		if parts[0] == "" {
			parts = nil
		}
	}
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("%q climbs above the root group", p)
			}
			parts = parts[:len(parts)-1]
		default:
			if !idPart.MatchString(seg) {
				return "", fmt.Errorf("%q: segment %q must be lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit", p, seg)
			}
			parts = append(parts, seg)
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}

// depGraph is the apps and groups a change would leave, for checking
// and ordering dependencies.
type depGraph struct {
	apps   map[string]*App
	groups map[string]*groupSpec
}

// graphLocked is the current apps and groups.
func (f *Framework) graphLocked() depGraph {
	g := depGraph{apps: make(map[string]*App, len(f.apps)), groups: f.groups}
	for id, as := range f.apps {
		g.apps[id] = as.Spec
	}
	return g
}

// declared lists an app's dependencies: its own and those of every
// recorded group it lives in.
func (g depGraph) declared(appID string) []string {
	out := slices.Clone(g.apps[appID].Dependencies)
	for grp := parentOf(appID); ; grp = parentOf(grp) {
		if spec := g.groups[grp]; spec != nil {
			out = append(out, spec.Dependencies...)
		}
		if grp == "/" {
			break
		}
	}
	return out
}

// targets expands an app's dependencies to the apps they name: an app,
// or every app inside a group. Itself and apps of a group it depends on
// from inside are left out.
func (g depGraph) targets(appID string) []string {
	var out []string
	for _, d := range g.declared(appID) {
		if _, ok := g.apps[d]; ok {
			out = append(out, d)
			continue
		}
		for id := range g.apps {
			if id != appID && isUnder(id, d) && !isUnder(appID, d) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// exists reports whether a dependency names an app or a group.
func (g depGraph) exists(path string) bool {
	if _, ok := g.apps[path]; ok {
		return true
	}
	if _, ok := g.groups[path]; ok {
		return true
	}
	for id := range g.apps {
		if isUnder(id, path) {
			return true
		}
	}
	return false
}

// check refuses dependencies on nothing and cycles, naming them.
func (g depGraph) check() error {
	v := &ValidationError{}
	for _, id := range sortedKeys(g.apps) {
		for _, d := range g.declared(id) {
			if !g.exists(d) {
				v.add(id+"/dependencies", "%s depends on %s, which is neither an app nor a group", id, d)
			}
		}
		for _, d := range g.apps[id].Dependencies {
			if isUnder(id, d) {
				v.add(id+"/dependencies", "%s depends on %s, a group it lives in", id, d)
			}
		}
	}
	for _, gid := range sortedKeys(g.groups) {
		for _, d := range g.groups[gid].Dependencies {
			if !g.exists(d) {
				v.add(gid+"/dependencies", "group %s depends on %s, which is neither an app nor a group", gid, d)
			}
		}
	}
	if cycle := g.cycle(); cycle != nil {
		v.add("/dependencies", "dependency cycle: %s", strings.Join(cycle, " → "))
	}
	if len(v.Details) > 0 {
		return v
	}
	return nil
}

// cycle returns one dependency cycle among the apps (first app repeated
// at the end), or nil.
func (g depGraph) cycle() []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := make(map[string]int, len(g.apps))
	var path []string
	var visit func(id string) []string
	visit = func(id string) []string {
		mark[id] = onPath
		path = append(path, id)
		for _, t := range g.targets(id) {
			switch mark[t] {
			case onPath:
				i := slices.Index(path, t)
				return append(slices.Clone(path[i:]), t)
			case unseen:
				if c := visit(t); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[id] = done
		return nil
	}
	for _, id := range sortedKeys(g.apps) {
		if mark[id] == unseen {
			if c := visit(id); c != nil {
				return c
			}
		}
	}
	return nil
}

// steps numbers the apps of one plan from 1 so that each starts after
// the apps it depends on (stop: after the apps that depend on it). Apps
// of one step deploy side by side.
func (g depGraph) steps(members []string, stop bool) map[string]int {
	in := make(map[string]bool, len(members))
	for _, id := range members {
		in[id] = true
	}
	// before[x] are the members x waits for.
	before := make(map[string][]string, len(members))
	for _, id := range members {
		if _, ok := g.apps[id]; !ok {
			continue
		}
		for _, t := range g.targets(id) {
			if !in[t] {
				continue
			}
			if stop {
				before[t] = append(before[t], id)
			} else {
				before[id] = append(before[id], t)
			}
		}
	}
	step := make(map[string]int, len(members))
	var level func(id string, depth int) int
	level = func(id string, depth int) int {
		if s := step[id]; s > 0 {
			return s
		}
		s := 1
		if depth <= len(members) { // cycles are refused before; this only bounds the walk
			for _, b := range before[id] {
				s = max(s, level(b, depth+1)+1)
			}
		}
		step[id] = s
		return s
	}
	for _, id := range members {
		level(id, 0)
	}
	return step
}

// waitingFor says what holds a deployment back: an earlier step of its
// plan, or a dependency that is missing, deploying or not healthy; ""
// when it may proceed.
func (f *Framework) waitingFor(d *Deployment, now time.Time) string {
	if d.Step > 1 {
		for _, o := range f.deployments {
			if o != d && o.planID() == d.planID() && o.Step < d.Step {
				return fmt.Sprintf("step %d of deployment %s (%s %s) first", o.Step, d.planID(), o.Action, o.AppID)
			}
		}
	}
	if d.Action == actionStop {
		return ""
	}
	g := f.graphLocked()
	if _, ok := g.apps[d.AppID]; !ok {
		return ""
	}
	for _, t := range g.targets(d.AppID) {
		as := f.apps[t]
		switch {
		case f.deploymentOf(t) != nil:
			return "dependency " + t + " is still deploying"
		case !f.converged(as, now):
			return "dependency " + t + " is not healthy"
		}
	}
	for _, dep := range g.declared(d.AppID) {
		if !g.exists(dep) {
			return "dependency " + dep + " does not exist"
		}
	}
	return ""
}
