// Package history records what happened during a fault-injection run and
// checks it against the promises corral makes under faults. It is pure: a
// history is a slice of events, recorded by whoever observed them (the
// test's framework, the sampler of the agents' process tables, the prober
// of the masters, the ZooKeeper transaction log), and Check reads it after
// the run, with no clocks, sockets or processes of its own.
//
// The invariants (one file each):
//
//   - acked-updates: an update the framework acknowledged is never taken
//     back: no later update of that task goes back to an earlier state, and
//     an acknowledged end is never followed by another state.
//   - at-most-one: no two live processes of one identity (a pet, or a task
//     ID) at any instant, from the agents' process tables, not from what a
//     framework believes.
//   - explained-ends: every task that ends was killed by its framework,
//     died with its machine, or was ended by an operator's action; nothing
//     dies because a master failed over.
//   - single-leader: no master answers as leader after a master elected
//     after it has answered (no two masters accepting calls at once).
//   - fencing: every registry write carries the fence of the master that
//     led when ZooKeeper applied it; none comes from a deposed master.
//   - converged: once faults heal, every task is reconciled to one state
//     that the framework, the master and the process tables agree on.
//
// On a violation the report prints the shortest slice of the history that
// shows it: the events between the first and last witness that concern the
// same task or node, and the faults in between.
package history

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind is what an event records.
type Kind string

// Event kinds. The comments say which fields each uses.
const (
	// Launch: a framework asked to launch Task on Node (the agent's host).
	Launch Kind = "launch"
	// Kill: a framework asked to kill Task.
	Kill Kind = "kill"
	// Update: a framework received a status update of Task: State, from
	// Source (Detail holds the reason), about a task on Node.
	Update Kind = "update"
	// Ack: the master accepted the framework's acknowledgement of Task's
	// update with State.
	Ack Kind = "ack"
	// ProcStart and ProcEnd: a process of identity Task (a pet's name or a
	// task ID) appeared on or vanished from agent Node's process table:
	// PID, and the command line in Detail. A ProcStart's Time is when the
	// process was first seen; a ProcEnd's, when it was found gone, and its
	// LastSeen when it was last seen alive: the process surely lived from
	// the one to the other.
	ProcStart Kind = "proc-start"
	ProcEnd   Kind = "proc-end"
	// Fault and Heal: the harness injected or removed a fault (Detail)
	// on the nodes in Node (comma-separated).
	Fault Kind = "fault"
	Heal  Kind = "heal"
	// Crash: machine Node died: its agent and every task process on it
	// were killed.
	Crash Kind = "crash"
	// Expect: an operator's action (Detail) after which processes of
	// identities starting with Task may end, if their command line holds
	// Source ("" for any): an upgrade replaces old versions, a replace
	// moves a pet, a scale-down stops some.
	Expect Kind = "expect"
	// Answer: master Node answered an operator call sent at Sent with
	// Status (200 while it leads).
	Answer Kind = "answer"
	// Contender and Withdrawn: ZooKeeper created or removed the election
	// znode Path (sequence order decides the leader) of master Node, at
	// transaction Zxid.
	Contender Kind = "contender"
	Withdrawn Kind = "withdrawn"
	// Fence: master Node took the registry's fence, leaving its znode at
	// ZooKeeper version Version, at Zxid.
	Fence Kind = "fence"
	// Write: ZooKeeper applied a registry write (Detail: the operation)
	// to Path at Zxid, guarded by the fence at Version, or unguarded when
	// Version is -1.
	Write Kind = "write"
	// Final: once faults healed and the cluster settled, Task's state as
	// the framework last heard it (State), as the master reports it
	// (Source; "" if it forgot the task), and its live processes (PID
	// holds the count).
	Final Kind = "final"
)

// Event is one thing observed. Fields not used by its Kind are empty.
type Event struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"kind"`
	Node    string    `json:"node,omitempty"`
	Task    string    `json:"task,omitempty"`
	State   string    `json:"state,omitempty"`
	Source  string    `json:"source,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	PID     int       `json:"pid,omitempty"`
	Status  int       `json:"status,omitempty"`
	Sent    time.Time `json:"sent,omitzero"`
	Path    string    `json:"path,omitempty"`
	Zxid    int64     `json:"zxid,omitempty"`
	Version int64     `json:"version,omitempty"`
	// LastSeen is when a ProcEnd's process was last seen alive.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// String renders the event on one line, for reports.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %-10s", e.Seq, e.Time.Format("15:04:05.000000"), e.Kind)
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%s", name, v)
		}
	}
	field("node", e.Node)
	field("task", e.Task)
	field("state", e.State)
	field("source", e.Source)
	field("path", e.Path)
	if e.Zxid != 0 {
		fmt.Fprintf(&b, " zxid=%#x", e.Zxid)
	}
	if e.Kind == Fence || e.Kind == Write {
		fmt.Fprintf(&b, " version=%d", e.Version)
	}
	if e.PID != 0 {
		fmt.Fprintf(&b, " pid=%d", e.PID)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " status=%d", e.Status)
	}
	if !e.Sent.IsZero() {
		fmt.Fprintf(&b, " sent=%s", e.Sent.Format("15:04:05.000000"))
	}
	field("detail", e.Detail)
	return b.String()
}

// Recorder collects events from many goroutines.
type Recorder struct {
	now func() time.Time

	mu     sync.Mutex
	events []Event // guarded by mu
}

// NewRecorder returns an empty Recorder stamping events with now (nil:
// time.Now).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

// Record appends e, stamping it with the time unless it has one, and
// returns it as recorded.
func (r *Recorder) Record(e Event) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.Seq = len(r.events) + 1
	r.events = append(r.events, e)
	return e
}

// Events returns a copy of what was recorded, in recording order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Len is how many events were recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// WriteJSON writes events as JSON lines, for keeping a run's history.
func WriteJSON(w io.Writer, events []Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("history: writing event %d: %w", e.Seq, err)
		}
	}
	return nil
}

// ReadJSON reads events written by WriteJSON.
func ReadJSON(r io.Reader) ([]Event, error) {
	var out []Event
	dec := json.NewDecoder(r)
	for dec.More() {
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("history: reading event %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ordered returns events sorted by time, recording order breaking ties:
// observers on one machine share its clock.
func ordered(events []Event) []Event {
	out := append([]Event(nil), events...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Seq < out[j].Seq
	})
	return out
}

// Terminal reports whether a task state is an end (Mesos' terminal
// states).
func Terminal(state string) bool { return terminal(state) }

// forgotten reports whether an update is the master's answer about a
// task it does not know (any more): a reconciliation's TASK_GONE or
// TASK_UNKNOWN. After an acknowledged end it only means the master
// dropped the task; for a task never heard of alive, it never existed.
func forgotten(e Event) bool {
	return e.Kind == Update && e.Source == "MASTER" && e.Detail == "RECONCILIATION" &&
		(e.State == "TASK_GONE" || e.State == "TASK_UNKNOWN")
}

// alive reports whether a state means the task's process was running.
// Not TASK_UNREACHABLE: a task still staging when its agent went out of
// reach may never have started (the process tables say if it did).
func alive(state string) bool {
	switch state {
	case "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING":
		return true
	}
	return false
}

func terminal(state string) bool {
	switch state {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
		"TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}
