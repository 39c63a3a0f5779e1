package service

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/corral-sched/corral/frameworks/kit"
)

// selector is one term of a label selector.
type selector struct {
	key, op string
	values  []string
}

var (
	selIn     = regexp.MustCompile(`^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$`)
	selEq     = regexp.MustCompile(`^\s*([^\s!=()]+)\s*(==|!=)\s*([^\s,()]*)\s*$`)
	selExists = regexp.MustCompile(`^\s*([^\s!=()]+)\s*$`)
)

// parseSelector reads Marathon's label selectors: "k==v", "k!=v",
// "k in (a, b)", "k notin (a, b)" and "k" (has the label), comma-joined.
func parseSelector(s string) ([]selector, error) {
	var terms []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				terms = append(terms, s[start:i])
				start = i + 1
			}
		}
	}
	terms = append(terms, s[start:])
	var out []selector
	for _, t := range terms {
		switch {
		case selIn.MatchString(t):
			m := selIn.FindStringSubmatch(t)
			var vals []string
			for _, v := range strings.Split(m[3], ",") {
				vals = append(vals, strings.TrimSpace(v))
			}
			out = append(out, selector{key: m[1], op: m[2], values: vals})
		case selEq.MatchString(t):
			m := selEq.FindStringSubmatch(t)
			out = append(out, selector{key: m[1], op: m[2], values: []string{m[3]}})
		case selExists.MatchString(t):
			out = append(out, selector{key: strings.TrimSpace(t), op: "exists"})
		default:
			return nil, fmt.Errorf("label selector term %q: use key==value, key!=value, key in (a,b), key notin (a,b) or key", strings.TrimSpace(t))
		}
	}
	return out, nil
}

func (s selector) matches(labels map[string]string) bool {
	v, ok := labels[s.key]
	switch s.op {
	case "==", "in":
		return ok && slices.Contains(s.values, v)
	case "!=", "notin":
		return !ok || !slices.Contains(s.values, v)
	default:
		return ok
	}
}

// listApps answers GET /v2/apps with ?id= (prefix), ?cmd= (substring),
// ?label= selectors and ?embed=apps.tasks|apps.lastTaskFailure (counts
// and deployments are always there).
func (f *Framework) listApps(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var sel []selector
	if l := q.Get("label"); l != "" {
		var err error
		if sel, err = parseSelector(l); err != nil {
			kit.WriteError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	var e embed
	for _, em := range q["embed"] {
		switch em {
		case "apps.tasks", "app.tasks":
			e.tasks = true
		case "apps.lastTaskFailure", "app.lastTaskFailure":
			e.lastFailure = true
		case "apps.counts", "apps.deployments", "apps.readiness", "app.counts", "app.deployments":
		default:
			kit.WriteError(w, http.StatusBadRequest, "embed=%q: use apps.tasks, apps.counts, apps.deployments or apps.lastTaskFailure", em)
			return
		}
	}
	prefix := q.Get("id")
	cmd := q.Get("cmd")
	f.mu.Lock()
	defer f.mu.Unlock()
	apps := []AppView{}
	for _, id := range f.sortedAppIDs() {
		as := f.apps[id]
		if prefix != "" && !strings.Contains(id, prefix) {
			continue
		}
		if cmd != "" && !strings.Contains(as.Spec.Cmd, cmd) {
			continue
		}
		if !slices.ContainsFunc(sel, func(s selector) bool { return !s.matches(as.Spec.Labels) }) {
			apps = append(apps, f.appView(as, e))
		}
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"apps": apps})
}
