package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Groups, in Marathon's JSON: a group holds apps and groups; its
// dependencies apply to every app inside. A group's apps deploy as one
// change, in dependency order (deps.go, plans.go).

// GroupSpec is a group as clients send it. Apps are decoded one by one
// with DecodeApp, as strictly as apps sent alone.
type GroupSpec struct {
	ID           string            `json:"id"`
	Apps         []json.RawMessage `json:"apps,omitempty"`
	Groups       []*GroupSpec      `json:"groups,omitempty"`
	Dependencies []string          `json:"dependencies,omitempty"`
	// ScaleBy multiplies the instances of every app inside (PUT only).
	ScaleBy *float64 `json:"scaleBy,omitempty"`
	// Read-only fields of GET answers, accepted so a group can be PUT
	// back: the version is ignored, pods must be empty.
	Version string            `json:"version,omitempty"`
	Pods    []json.RawMessage `json:"pods,omitempty"`
}

const keyGroups = "service/groups"

// DecodeGroup reads one group strictly.
func DecodeGroup(b []byte) (*GroupSpec, error) {
	return decodeStrict[GroupSpec](bytes.NewReader(b), "group")
}

// groupContent is a group flattened: its apps and its recorded groups
// (itself and every group inside), all with absolute IDs.
type groupContent struct {
	apps   map[string]*App
	groups map[string]*groupSpec
}

// flatten resolves a group's IDs (relative ones against parent) and
// normalizes its apps; version stamps the groups.
func (g *GroupSpec) flatten(parent, version string) (*groupContent, error) {
	out := &groupContent{apps: make(map[string]*App), groups: make(map[string]*groupSpec)}
	v := &ValidationError{}
	out.add(g, parent, "", version, v)
	if len(v.Details) > 0 {
		return nil, v
	}
	return out, nil
}

func (c *groupContent) add(g *GroupSpec, parent, path, version string, v *ValidationError) {
	id, err := resolvePath(parent, g.ID)
	if g.ID == "" && path == "" {
		id, err = parent, nil // the group the URL names
	}
	if err != nil {
		v.add(path+"/id", "%v", err)
		return
	}
	if len(g.Pods) > 0 {
		v.add(path+"/pods", "pods are not supported; use apps")
	}
	if g.ScaleBy != nil && path != "" {
		v.add(path+"/scaleBy", "scaleBy applies to the group named in the URL only")
	}
	spec := &groupSpec{ID: id, Version: version}
	for i, d := range g.Dependencies {
		dep, err := resolvePath(parentOf(id), d)
		if err != nil {
			v.add(fmt.Sprintf("%s/dependencies/%d", path, i), "%v", err)
			continue
		}
		spec.Dependencies = append(spec.Dependencies, dep)
	}
	if id != "/" {
		c.groups[id] = spec
	}
	for i, raw := range g.Apps {
		at := fmt.Sprintf("%s/apps/%d", path, i)
		app, err := DecodeApp(bytes.NewReader(raw))
		if err == nil {
			app.ID, err = resolvePath(id, app.ID)
			if err != nil {
				err = &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{err.Error()}}}}
			}
		}
		if err == nil && !isUnder(app.ID, id) {
			err = &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{fmt.Sprintf("app %s is not inside group %s", app.ID, id)}}}}
		}
		if err == nil {
			err = app.Normalize()
		}
		if err != nil {
			prefix(v, at, err)
			continue
		}
		if c.apps[app.ID] != nil {
			v.add(at+"/id", "app %s is given twice", app.ID)
		}
		c.apps[app.ID] = app
	}
	for i, sub := range g.Groups {
		at := fmt.Sprintf("%s/groups/%d", path, i)
		if sub == nil {
			v.add(at, "a group is null")
			continue
		}
		if subID, err := resolvePath(id, sub.ID); err == nil && (subID == id || !isUnder(subID, id)) {
			v.add(at+"/id", "group %s is not inside group %s", subID, id)
			continue
		}
		c.add(sub, id, at, version, v)
	}
}

// prefix adds err's violations to v under path.
func prefix(v *ValidationError, path string, err error) {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		v.add(path, "%v", err)
		return
	}
	for _, d := range ve.Details {
		v.Details = append(v.Details, Violation{Path: path + d.Path, Errors: d.Errors})
	}
}

// scaled is n instances times factor, rounded up as Marathon does.
func scaled(n int, factor float64) int {
	return int(math.Ceil(float64(n) * factor))
}

// allGroups is every group that exists: recorded ones, and those that
// hold apps or recorded groups.
func (f *Framework) allGroups() map[string]bool {
	out := map[string]bool{"/": true}
	addAncestors := func(id string) {
		for g := parentOf(id); g != "/"; g = parentOf(g) {
			out[g] = true
		}
	}
	for id := range f.groups {
		out[id] = true
		addAncestors(id)
	}
	for id := range f.apps {
		addAncestors(id)
	}
	return out
}

// groupView is a group in Marathon's shape, with everything inside.
func (f *Framework) groupView(id string, all map[string]bool) map[string]any {
	apps := []AppView{}
	for _, appID := range f.sortedAppIDs() {
		if parentOf(appID) == id {
			apps = append(apps, f.appView(f.apps[appID], embed{}))
		}
	}
	groups := []map[string]any{}
	for _, g := range sortedKeys(all) {
		if g != "/" && parentOf(g) == id {
			groups = append(groups, f.groupView(g, all))
		}
	}
	deps, version := []string{}, ""
	if spec := f.groups[id]; spec != nil {
		deps = append(deps, spec.Dependencies...)
		version = spec.Version
	}
	for _, a := range apps {
		version = max(version, a.Version)
	}
	return map[string]any{"id": id, "apps": apps, "groups": groups, "dependencies": deps, "pods": []any{}, "version": version}
}

// groupID reads the group named by a URL path under /v2/groups.
func groupID(rest string) (string, error) {
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return "/", nil
	}
	return resolvePath("/", rest)
}
