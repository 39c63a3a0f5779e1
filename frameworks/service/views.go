package service

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
)

// AppView is an app as GET /v2/apps shows it: the spec and its counts.
type AppView struct {
	App
	VersionInfo    map[string]string   `json:"versionInfo"`
	TasksStaged    int                 `json:"tasksStaged"`
	TasksRunning   int                 `json:"tasksRunning"`
	TasksHealthy   int                 `json:"tasksHealthy"`
	TasksUnhealthy int                 `json:"tasksUnhealthy"`
	Deployments    []map[string]string `json:"deployments"`
	Tasks          []TaskView          `json:"tasks,omitempty"`
	LastTaskFail   *TaskFailure        `json:"lastTaskFailure,omitempty"`
}

type embed struct{ tasks, lastFailure bool }

var embedAll = embed{tasks: true, lastFailure: true}

func (f *Framework) appView(as *appState, e embed) AppView {
	v := AppView{App: *as.Spec, Deployments: []map[string]string{}}
	v.VersionInfo = map[string]string{"lastScalingAt": as.Spec.Version, "lastConfigChangeAt": as.Runtime}
	for _, in := range f.instancesOf(as.Spec.ID) {
		switch {
		case in.running():
			v.TasksRunning++
		case in.State == "TASK_STAGING" || in.State == "TASK_STARTING":
			v.TasksStaged++
		}
		if len(as.Spec.HealthChecks) > 0 && in.Healthy != nil {
			if *in.Healthy {
				v.TasksHealthy++
			} else {
				v.TasksUnhealthy++
			}
		}
	}
	if d := f.deploymentOf(as.Spec.ID); d != nil {
		v.Deployments = append(v.Deployments, map[string]string{"id": d.ID})
	}
	if e.tasks {
		v.Tasks = f.taskViews(as.Spec.ID)
	}
	if e.lastFailure {
		v.LastTaskFail = as.LastFail
	}
	return v
}

// TaskView is an instance as Marathon's /v2/apps/{id}/tasks shows it.
type TaskView struct {
	ID                 string              `json:"id"`
	AppID              string              `json:"appId"`
	Host               string              `json:"host"`
	IPAddresses        []map[string]string `json:"ipAddresses"`
	Ports              []int               `json:"ports"`
	SlaveID            string              `json:"slaveId"`
	StagedAt           string              `json:"stagedAt"`
	StartedAt          string              `json:"startedAt,omitempty"`
	State              string              `json:"state"`
	Version            string              `json:"version"`
	HealthCheckResults []map[string]any    `json:"healthCheckResults,omitempty"`
	Ready              bool                `json:"ready"`
	Unreachable        bool                `json:"unreachable,omitempty"`
	Killing            bool                `json:"killing,omitempty"`
}

func taskView(in *Instance) TaskView {
	v := TaskView{
		ID: in.ID, AppID: in.AppID, Host: in.Host, Ports: in.Ports, SlaveID: in.AgentID,
		StagedAt: versionString(in.StagedAt), State: in.State, Version: in.Version, Ready: in.Ready,
		Unreachable: in.unreachable(), Killing: in.killing(), IPAddresses: in.ipAddresses(),
	}
	if v.Ports == nil {
		v.Ports = []int{}
	}
	if !in.StartedAt.IsZero() {
		v.StartedAt = versionString(in.StartedAt)
	}
	if in.Healthy != nil {
		v.HealthCheckResults = []map[string]any{{"alive": *in.Healthy, "taskId": in.ID}}
	}
	return v
}

func (f *Framework) taskViews(appID string) []TaskView {
	ins := f.instancesOf(appID)
	slices.SortFunc(ins, func(a, b *Instance) int { return a.StagedAt.Compare(b.StagedAt) })
	out := make([]TaskView, 0, len(ins))
	for _, in := range ins {
		out = append(out, taskView(in))
	}
	return out
}

func (f *Framework) sortedAppIDs() []string {
	return slices.Sorted(maps.Keys(f.apps))
}

// DeploymentView is a deployment in Marathon's shape.
type DeploymentView struct {
	ID             string           `json:"id"`
	Version        string           `json:"version"`
	AffectedApps   []string         `json:"affectedApps"`
	Steps          []map[string]any `json:"steps"`
	CurrentActions []map[string]any `json:"currentActions"`
	CurrentStep    int              `json:"currentStep"`
	TotalSteps     int              `json:"totalSteps"`
	// Progress of the rollout, for people and the CLI.
	Progress map[string]int `json:"progress"`
	// Waiting says what holds the deployment back (a dependency not yet
	// healthy, an earlier step); corral's addition.
	Waiting string `json:"waitingFor,omitempty"`
}

func (f *Framework) deploymentView(d *Deployment) DeploymentView {
	action := map[string]any{"action": d.Action, "app": d.AppID}
	v := DeploymentView{
		ID: d.ID, Version: d.Version, AffectedApps: []string{d.AppID},
		Steps:          []map[string]any{{"actions": []map[string]any{action}}},
		CurrentActions: []map[string]any{action}, CurrentStep: 1, TotalSteps: 1,
		Progress: map[string]int{},
	}
	if as := f.apps[d.AppID]; as != nil {
		p := v.Progress
		p["target"] = as.Spec.instances()
		if d.Action == actionStop {
			p["target"] = 0
		}
		for _, in := range f.instancesOf(d.AppID) {
			switch {
			case in.killing():
				p["killing"]++
			case in.Runtime != as.Runtime:
				p["old"]++
			case in.ready(as.Spec):
				p["ready"]++
			default:
				p["starting"]++
			}
		}
	}
	return v
}

// queue answers "why is it not running?" for every app waiting for
// launches: the offers it saw and why each did not fit.
func (f *Framework) queue(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.cfg.Now()
	items := []map[string]any{}
	for _, id := range f.sortedAppIDs() {
		as := f.apps[id]
		if as.wanted == 0 {
			continue
		}
		left := max(0, as.DelayUntil.Sub(now).Seconds())
		s := as.Offers
		reasons := []map[string]any{}
		for _, reason := range slices.Sorted(maps.Keys(s.Reasons)) {
			reasons = append(reasons, map[string]any{"reason": reason, "declined": s.Reasons[reason], "processed": s.Processed})
		}
		summary := map[string]any{
			"processedOffersCount": s.Processed, "unusedOffersCount": s.Unused,
			"rejectSummaryLastOffers": reasons,
		}
		if !s.LastUnused.IsZero() {
			summary["lastUnusedOfferAt"] = versionString(s.LastUnused)
		}
		if !s.LastUsed.IsZero() {
			summary["lastUsedOfferAt"] = versionString(s.LastUsed)
		}
		items = append(items, map[string]any{
			"app": f.appView(as, embed{}), "count": as.wanted,
			"since":                  versionString(as.Since),
			"delay":                  map[string]any{"timeLeftSeconds": int(left + 0.999), "overdue": left == 0},
			"processedOffersSummary": summary,
			"why":                    whyWaiting(as, now),
		})
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"queue": items})
}

// whyWaiting explains in a sentence why instances are not placed.
func whyWaiting(as *appState, now time.Time) string {
	if now.Before(as.DelayUntil) {
		return fmt.Sprintf("launch delayed until %s after %d failure(s) (backoff)", versionString(as.DelayUntil), as.Failures)
	}
	s := as.Offers
	if s.Processed == 0 {
		return "no offers received yet: the cluster may be full, or no agent has resources for role " + as.Spec.Role
	}
	if len(s.Reasons) == 0 {
		return "launching"
	}
	type kv struct {
		k string
		v int
	}
	var list []kv
	for k, v := range s.Reasons {
		list = append(list, kv{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].v > list[j].v || (list[i].v == list[j].v && list[i].k < list[j].k) })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s (%d)", reasonText[e.k], e.v))
	}
	return fmt.Sprintf("%d offer(s) seen, none fit: %s", s.Processed, strings.Join(parts, ", "))
}

var reasonText = map[string]string{
	reasonRole:        "offered for another role",
	reasonConstraint:  "constraints not met",
	reasonCPUs:        "not enough cpus",
	reasonMem:         "not enough mem",
	reasonDisk:        "not enough disk",
	reasonPorts:       "ports not available",
	reasonDelay:       "launch delay (backoff)",
	reasonUnreachable: "agent unreachable",
	reasonMaintenance: "agent scheduled for maintenance",
	reasonSpread:      "held back to spread instances over hosts",
}

// sortedKeys returns m's keys in order, for answers and plans that read
// the same from one run to the next.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
