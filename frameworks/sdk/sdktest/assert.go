package sdktest

import (
	"slices"
	"time"

	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// The assertions read what the observer recorded. Each takes a framework
// ID ("" for every framework) and returns what happened so far, oldest
// first; the messages are shared with the kit and must not be modified.
// With Options.DisableObserver they return nothing.

// Calls lists the framework's calls of the given types (all types when
// none are given).
func (c *Cluster) Calls(frameworkID string, types ...schedulerpb.Call_Type) []Call {
	calls, _ := c.traffic.snapshot()
	return slices.DeleteFunc(calls, func(x Call) bool {
		return (frameworkID != "" && x.FrameworkID != frameworkID) || (len(types) > 0 && !slices.Contains(types, x.Call.GetType()))
	})
}

// Events lists the events of the given types (all types when none are
// given) sent to the framework, dropped ones included and marked.
func (c *Cluster) Events(frameworkID string, types ...schedulerpb.Event_Type) []Event {
	_, events := c.traffic.snapshot()
	return slices.DeleteFunc(events, func(x Event) bool {
		return (frameworkID != "" && x.FrameworkID != frameworkID) || (len(types) > 0 && !slices.Contains(types, x.Event.GetType()))
	})
}

// FrameworkID is the ID under which the latest framework called name
// subscribed, "" if none has.
func (c *Cluster) FrameworkID(name string) string { return c.traffic.frameworkID(name) }

// Launched lists the tasks the framework launched (LAUNCH and LAUNCH_GROUP
// operations of ACCEPT calls the master took).
func (c *Cluster) Launched(frameworkID string) []*mesospb.TaskInfo {
	var out []*mesospb.TaskInfo
	for _, x := range c.Calls(frameworkID, schedulerpb.Call_ACCEPT) {
		if x.Status/100 != 2 {
			continue
		}
		for _, op := range x.Call.GetAccept().GetOperations() {
			out = append(out, op.GetLaunch().GetTaskInfos()...)
			out = append(out, op.GetLaunchGroup().GetTaskGroup().GetTasks()...)
		}
	}
	return out
}

// Decline is one DECLINE call.
type Decline struct {
	// Seq orders the call among everything recorded.
	Seq int
	// FrameworkID is the framework that declined.
	FrameworkID string
	// OfferIDs are the offers declined.
	OfferIDs []string
	// Filters are the call's filters; nil when it has none.
	Filters *mesospb.Filters
}

// Refuse is how long the declined resources are kept from the framework:
// the filter's refuse_seconds, or the master's default without one.
func (d Decline) Refuse() time.Duration {
	secs := master.DefaultRefuseSeconds
	if d.Filters != nil && d.Filters.RefuseSeconds != nil {
		secs = d.Filters.GetRefuseSeconds()
	}
	return time.Duration(secs * float64(time.Second))
}

// Declines lists the framework's DECLINE calls the master took.
func (c *Cluster) Declines(frameworkID string) []Decline {
	var out []Decline
	for _, x := range c.Calls(frameworkID, schedulerpb.Call_DECLINE) {
		if x.Status/100 != 2 {
			continue
		}
		d := Decline{Seq: x.Seq, FrameworkID: x.FrameworkID, Filters: x.Call.GetDecline().GetFilters()}
		for _, id := range x.Call.GetDecline().GetOfferIds() {
			d.OfferIDs = append(d.OfferIDs, id.GetValue())
		}
		out = append(out, d)
	}
	return out
}

// Ack is one ACKNOWLEDGE call.
type Ack struct {
	// Seq orders the call among everything recorded.
	Seq int
	// FrameworkID is the framework that acknowledged.
	FrameworkID string
	// AgentID and TaskID name the task whose update was acknowledged.
	AgentID, TaskID string
	// UUID is the update's uuid.
	UUID []byte
}

// Acknowledged lists the framework's ACKNOWLEDGE calls the master took.
func (c *Cluster) Acknowledged(frameworkID string) []Ack {
	var out []Ack
	for _, x := range c.Calls(frameworkID, schedulerpb.Call_ACKNOWLEDGE) {
		if x.Status/100 != 2 {
			continue
		}
		a := x.Call.GetAcknowledge()
		out = append(out, Ack{Seq: x.Seq, FrameworkID: x.FrameworkID, AgentID: a.GetAgentId().GetValue(),
			TaskID: a.GetTaskId().GetValue(), UUID: a.GetUuid()})
	}
	return out
}

// Updates lists the status updates delivered to the framework (dropped
// ones left out), reconciliation answers included.
func (c *Cluster) Updates(frameworkID string) []*mesospb.TaskStatus {
	var out []*mesospb.TaskStatus
	for _, e := range c.Events(frameworkID, schedulerpb.Event_UPDATE) {
		if !e.Dropped {
			out = append(out, e.Event.GetUpdate().GetStatus())
		}
	}
	return out
}

// Unacknowledged lists the delivered updates that needed an
// acknowledgement (they carry a uuid) and have not had one.
func (c *Cluster) Unacknowledged(frameworkID string) []*mesospb.TaskStatus {
	acked := make(map[string]bool)
	for _, a := range c.Acknowledged(frameworkID) {
		acked[string(a.UUID)] = true
	}
	var out []*mesospb.TaskStatus
	for _, st := range c.Updates(frameworkID) {
		if len(st.GetUuid()) > 0 && !acked[string(st.GetUuid())] {
			out = append(out, st)
		}
	}
	return out
}

// LastState is the latest state the framework was told of the task, and
// whether it was told any.
func (c *Cluster) LastState(frameworkID, taskID string) (mesospb.TaskState, bool) {
	updates := c.Updates(frameworkID)
	for i := len(updates) - 1; i >= 0; i-- {
		if updates[i].GetTaskId().GetValue() == taskID {
			return updates[i].GetState(), true
		}
	}
	return 0, false
}
