package pets

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Pet is one member of a set, by ordinal. Its record outlives its tasks:
// the placement (agent, reserved resources, volumes) stays until the set
// is purged or the pet replaced, so that every relaunch finds its data.
type Pet struct {
	Set     string `json:"set"`
	Ordinal int    `json:"ordinal"`
	Name    string `json:"name"`
	// Placement is where the pet's resources are reserved; nil before the
	// first placement and after a replace.
	Placement *Placement `json:"placement,omitempty"`

	// TaskID is the pet's task while one may be running: set before the
	// launch is sent, cleared only by a terminal status.
	TaskID string `json:"taskId,omitempty"`
	// State is the latest Mesos state of TaskID ("" before any update).
	State string `json:"state,omitempty"`
	// Revision is the set's spec revision the pet's task runs (or last ran).
	Revision int   `json:"revision,omitempty"`
	Healthy  *bool `json:"healthy,omitempty"`
	Ready    bool  `json:"ready"`
	// Killing says why a kill was sent; the pet is not relaunched until
	// the kill is confirmed by a terminal status.
	Killing string `json:"killing,omitempty"`
	// InDoubt says why the task may still be running where it cannot be
	// seen (agent unreachable, task unknown): no relaunch meanwhile.
	InDoubt string `json:"inDoubt,omitempty"`
	// Incarnation counts launches, numbering task IDs.
	Incarnation int `json:"incarnation"`
	// Restart and Replace are requests from the API that last until done.
	Restart bool `json:"restartRequested,omitempty"`
	Replace bool `json:"replaceRequested,omitempty"`
	// AvoidAgent keeps a replaced pet off the agent it left, until
	// AvoidUntil.
	AvoidAgent string    `json:"avoidAgent,omitempty"`
	AvoidUntil time.Time `json:"avoidUntil,omitzero"`
	Message    string    `json:"message,omitempty"`
	LaunchedAt time.Time `json:"launchedAt,omitzero"`
	ReadyAt    time.Time `json:"readyAt,omitzero"`
	// Failures counts failed tasks since the pet was last ready; the
	// next launch waits until NotBefore.
	Failures  int       `json:"failures"`
	NotBefore time.Time `json:"notBefore,omitzero"`
}

// Placement is a pet's reservation on one agent.
type Placement struct {
	// ID labels the reservation, so that the pet finds its resources in
	// offers and nothing else is mistaken for them.
	ID       string `json:"id"`
	AgentID  string `json:"agentId"`
	Hostname string `json:"hostname"`
	// Attributes of the agent, for placement constraints.
	Attributes map[string]string `json:"attributes,omitempty"`
	Role       string            `json:"role"`
	CPUs       float64           `json:"cpus"`
	Mem        float64           `json:"mem"`
	Disk       float64           `json:"disk,omitempty"`
	Ports      []uint64          `json:"ports,omitempty"`
	Volumes    []PlacedVolume    `json:"volumes,omitempty"`
	// Confirmed once the master reported the reservation made.
	Confirmed bool      `json:"confirmed"`
	Since     time.Time `json:"since"`
}

// PlacedVolume is one persistent volume of a placement.
type PlacedVolume struct {
	ContainerPath string  `json:"containerPath"`
	PersistenceID string  `json:"persistenceId"`
	Size          float64 `json:"size"`
}

// Release is a placement being given back: its volumes destroyed and its
// resources unreserved, as soon as its agent offers them.
type Release struct {
	Placement
	Set     string    `json:"set"`
	Ordinal int       `json:"ordinal"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
	// Abandoned says why it may never be released (its agent is gone or
	// unreachable); it is still released if the agent offers it.
	Abandoned string `json:"abandoned,omitempty"`
}

// petName is the pet's stable identity.
func petName(set string, ordinal int) string { return set + "-" + strconv.Itoa(ordinal) }

// taskID is the ID of a pet's n-th launch: unique, and readable back.
func taskID(name string, incarnation int) string { return fmt.Sprintf("%s.%d", name, incarnation) }

// parseTaskID returns the set and ordinal of one of our task IDs.
func parseTaskID(id string) (set string, ordinal int, ok bool) {
	name, inc, found := strings.Cut(id, ".")
	if !found {
		return "", 0, false
	}
	if _, err := strconv.Atoi(inc); err != nil {
		return "", 0, false
	}
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != name[i+1:] {
		return "", 0, false
	}
	return name[:i], n, true
}

// live reports whether a task of the pet may be running.
func (p *Pet) live() bool { return p != nil && p.TaskID != "" }

// running reports a confirmed running task that is not being stopped.
func (p *Pet) running() bool {
	return p.live() && p.State == "TASK_RUNNING" && p.Killing == "" && p.InDoubt == ""
}

// ready reports a running pet that passed its checks.
func (p *Pet) ready() bool { return p.running() && p.Ready }

// Phase summarises the pet for people.
func (p *Pet) Phase() string {
	switch {
	case p == nil:
		return "absent"
	case p.InDoubt != "":
		return "unknown"
	case p.Killing != "":
		return "stopping"
	case p.ready():
		return "ready"
	case p.running():
		return "running"
	case p.live():
		return "launching"
	default:
		return "stopped"
	}
}
