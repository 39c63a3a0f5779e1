package service

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Instance is one task of an app, from the launch decision until its end.
type Instance struct {
	ID      string `json:"id"` // the Mesos task ID
	AppID   string `json:"appId"`
	Version string `json:"version"` // the app version it was launched with
	// Runtime is the version whose runtime it runs: versions that only
	// scaled share it, so a scale never restarts anything.
	Runtime string `json:"runtime"`
	AgentID string `json:"slaveId,omitempty"`
	Host    string `json:"host,omitempty"`
	IP      string `json:"ip,omitempty"`
	Ports   []int  `json:"ports,omitempty"`
	// ContainerIPs are its own addresses on container networks, from its
	// status updates (container_status.network_infos).
	ContainerIPs []string `json:"containerIps,omitempty"`
	// Attributes of its agent, for constraints.
	Attributes map[string]string `json:"attributes,omitempty"`
	State      string            `json:"state"`
	Healthy    *bool             `json:"healthy,omitempty"`
	Ready      bool              `json:"ready,omitempty"`
	Message    string            `json:"message,omitempty"`
	StagedAt   time.Time         `json:"stagedAt"`
	// StartedAt is the first TASK_RUNNING.
	StartedAt time.Time `json:"startedAt,omitzero"`
	// UnhealthySince is when the agent first reported a failed check.
	UnhealthySince time.Time `json:"unhealthySince,omitzero"`
	// UnreachableSince is when its agent was reported unreachable; zero
	// while reachable.
	UnreachableSince time.Time `json:"unreachableSince,omitzero"`
	// Replaced: it was unreachable past inactiveAfterSeconds and a new
	// instance took its place; if it comes back it is killed.
	Replaced bool `json:"replaced,omitempty"`
	// KillAt is when a kill was last asked for; zero if none.
	// Updated is the timestamp of the latest status update applied.
	Updated    float64   `json:"updated,omitempty"`
	KillAt     time.Time `json:"killAt,omitzero"`
	KillReason string    `json:"killReason,omitempty"`
}

func (i *Instance) placement() sdk.Placement {
	return sdk.Placement{AgentID: i.AgentID, Hostname: i.Host, Attributes: i.Attributes}
}

func (i *Instance) killing() bool { return !i.KillAt.IsZero() }

func (i *Instance) running() bool { return i.State == mesospb.TaskState_TASK_RUNNING.String() }

// unreachable reports whether its agent is away.
func (i *Instance) unreachable() bool { return !i.UnreachableSince.IsZero() }

// healthy is what a rolling upgrade counts: running, reachable, and
// passing its health check if it has one.
func (i *Instance) healthy(app *App) bool {
	if !i.running() || i.unreachable() || i.killing() {
		return false
	}
	return len(app.HealthChecks) == 0 || (i.Healthy != nil && *i.Healthy)
}

// ready is healthy and past the app's readiness checks.
func (i *Instance) ready(app *App) bool {
	return i.healthy(app) && (len(app.ReadinessChecks) == 0 || i.Ready)
}

// appState is an app's target spec and what the framework remembers
// about launching it.
type appState struct {
	Spec *App `json:"spec"`
	// Runtime is the version that last changed how instances run.
	Runtime string `json:"runtime"`
	// Versions lists the versions kept, oldest first.
	Versions []string `json:"versions"`
	// Failures since the last instance that ran well, and the launch delay
	// they earned.
	Failures   int          `json:"failures"`
	DelayUntil time.Time    `json:"delayUntil,omitzero"`
	LastFail   *TaskFailure `json:"lastTaskFailure,omitempty"`
	LastHealth time.Time    `json:"lastHealthKill,omitzero"`
	Since      time.Time    `json:"since,omitzero"` // waiting since
	Offers     offerStats   `json:"-"`
	wanted     int          // instances to launch now (converge)
	revivedFor time.Time    // the DelayUntil offers were revived after
	spreadHeld time.Time    // when spreading first held an instance back, since waiting began
	// spreadRevivedFor is the end of a spread hold offers were revived
	// after (see spreadHoldEnded).
	spreadRevivedFor time.Time
}

// TaskFailure is the last instance that failed, as Marathon reports it.
type TaskFailure struct {
	AppID     string    `json:"appId"`
	TaskID    string    `json:"taskId"`
	State     string    `json:"state"`
	Message   string    `json:"message"`
	Host      string    `json:"host"`
	SlaveID   string    `json:"slaveId,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	Version   string    `json:"version"`
}

// offerStats counts, since the app last started waiting, what offers it
// saw and why they did not fit: /v2/queue's answer to "why is it not
// running?".
type offerStats struct {
	Processed   int            `json:"processedOffersCount"`
	Unused      int            `json:"unusedOffersCount"`
	LastUnused  time.Time      `json:"lastUnusedOfferAt,omitzero"`
	LastUsed    time.Time      `json:"lastUsedOfferAt,omitzero"`
	Reasons     map[string]int `json:"-"`
	LastReasons map[string]int `json:"-"` // the latest batch of offers only
}

func (s *offerStats) reset() { *s = offerStats{} }

func (s *offerStats) declined(reason string, now time.Time) {
	if s.Reasons == nil {
		s.Reasons = make(map[string]int)
	}
	s.Reasons[reason]++
	if s.LastReasons == nil {
		s.LastReasons = make(map[string]int)
	}
	s.LastReasons[reason]++
	s.Unused++
	s.LastUnused = now
}

// Reasons offers are not used, in Marathon's vocabulary.
const (
	reasonRole        = "UnfulfilledRole"
	reasonConstraint  = "UnfulfilledConstraint"
	reasonCPUs        = "InsufficientCpus"
	reasonMem         = "InsufficientMemory"
	reasonDisk        = "InsufficientDisk"
	reasonPorts       = "InsufficientPorts"
	reasonDelay       = "LaunchDelay"
	reasonUnreachable = "AgentUnreachable"
	reasonMaintenance = "AgentMaintenance"
	// reasonSpread: the offer's host already runs an instance while
	// another may offer soon (see sdk.ChooseSpread); not Marathon's.
	reasonSpread = "SpreadingInstances"
)

var shortfallReason = map[string]string{"cpus": reasonCPUs, "mem": reasonMem, "disk": reasonDisk, "ports": reasonPorts}

// Deployment is a change being rolled out to one app.
type Deployment struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	AppID   string `json:"appId"`
	Action  string `json:"action"`         // StartApplication, ScaleApplication, RestartApplication, StopApplication
	From    *App   `json:"from,omitempty"` // the spec before, for rollback
	// FromRuntime is the runtime before: a rollback makes the instances
	// still running it current again instead of replacing them too.
	FromRuntime string    `json:"fromRuntime,omitempty"`
	Started     time.Time `json:"started"`
	// Plan is the deployment ID a change of several apps (a group, a
	// multi-task kill with scale) is known by; each app's part waits for
	// the parts of lower Step. Empty for a change of one app: its own ID.
	Plan string `json:"plan,omitempty"`
	Step int    `json:"step,omitempty"`
}

// planID is the ID clients see for the change this deployment is part of.
func (d *Deployment) planID() string {
	if d.Plan != "" {
		return d.Plan
	}
	return d.ID
}

// Deployment actions.
const (
	actionStart   = "StartApplication"
	actionScale   = "ScaleApplication"
	actionRestart = "RestartApplication"
	actionStop    = "StopApplication"
)

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// taskIDFor names a new instance of an app as Marathon does:
// "group_app.<uuid>".
func taskIDFor(appID string) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "_") + "." + newID()
}

// storeKey turns an app ID into one store key component.
func storeKey(appID string) string {
	return strings.ReplaceAll(strings.TrimPrefix(appID, "/"), "/", "~")
}

// versionString formats a version as Marathon does.
func versionString(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
