package e2e

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// operatorCall posts an operator call and checks the status.
func operatorCall(t *testing.T, base string, call *masterpb.Call, want int) *masterpb.Response {
	t.Helper()
	body, _ := codec.JSON.Marshal(call)
	resp, err := http.Post(base+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%v: %s: %s, want %d", call.GetType(), resp.Status, b, want)
	}
	out := &masterpb.Response{}
	if want == http.StatusOK && len(b) > 0 {
		if err := codec.JSON.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func machines(hosts ...string) []*mesospb.MachineID {
	var out []*mesospb.MachineID
	for _, h := range hosts {
		out = append(out, &mesospb.MachineID{Hostname: proto.String(h)})
	}
	return out
}

func scheduleCall(start time.Time, hosts ...[]string) *masterpb.Call {
	sched := &masterpb.Schedule{}
	for _, group := range hosts {
		sched.Windows = append(sched.Windows, &masterpb.Window{MachineIds: machines(group...),
			Unavailability: &mesospb.Unavailability{Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())},
				Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(time.Hour))}}})
	}
	return &masterpb.Call{Type: masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(),
		UpdateMaintenanceSchedule: &masterpb.Call_UpdateMaintenanceSchedule{Schedule: sched}}
}

// A machine scheduled for maintenance drains: its offers say when it goes,
// frameworks with work there get inverse offers and their answers are
// shown; START_MAINTENANCE takes it down (its tasks gone, its agent shut
// down and refused); STOP_MAINTENANCE brings it back.
func TestMaintenanceDrainsAndTakesMachinesDown(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 2})
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf",
		frameworkInfo("maint", mesospb.FrameworkInfo_Capability_PARTITION_AWARE))
	var target *mesospb.Offer
	for target == nil {
		for _, o := range f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers() {
			if o.GetHostname() == "agent-0" {
				target = o
			}
		}
	}
	f.launch(target, 0, shellTask("on-0", target, "sleep 300", "cpus:0.1;mem:16"))
	f.waitState("on-0", mesospb.TaskState_TASK_RUNNING)

	start := time.Now().Add(time.Hour)
	operatorCall(t, c.MasterURL, scheduleCall(start, []string{"agent-0"}, []string{"agent-0"}), http.StatusBadRequest)
	operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(),
		StartMaintenance: &masterpb.Call_StartMaintenance{Machines: machines("agent-0")}}, http.StatusBadRequest)
	operatorCall(t, c.MasterURL, scheduleCall(start, []string{"agent-0"}), http.StatusOK)
	got := operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()}, http.StatusOK)
	if w := got.GetGetMaintenanceSchedule().GetSchedule().GetWindows(); len(w) != 1 || w[0].GetMachineIds()[0].GetHostname() != "agent-0" {
		t.Fatalf("schedule %v", got)
	}

	// The inverse offer, and an offer for agent-0 that says when it goes.
	var inverse *mesospb.InverseOffer
	var draining *mesospb.Offer
	deadline := time.Now().Add(20 * time.Second)
	for inverse == nil || draining == nil {
		rec, ok := f.nextRawBy(deadline)
		if !ok {
			t.Fatal("stream ended")
		}
		ev := &schedulerpb.Event{}
		if err := f.c.Unmarshal(rec, ev); err != nil {
			t.Fatal(err)
		}
		for _, io := range ev.GetInverseOffers().GetInverseOffers() {
			inverse = io
		}
		for _, o := range ev.GetOffers().GetOffers() {
			if o.GetHostname() == "agent-0" {
				draining = o
			} else if o.Unavailability != nil {
				t.Fatalf("an offer for %s carries unavailability", o.GetHostname())
			}
		}
	}
	if inverse.GetAgentId().GetValue() != target.GetAgentId().GetValue() || inverse.GetUnavailability().GetStart().GetNanoseconds() != start.UnixNano() {
		t.Fatalf("inverse offer %v, want agent %s from %v", inverse, target.GetAgentId().GetValue(), start)
	}
	if draining.GetUnavailability().GetStart().GetNanoseconds() != start.UnixNano() {
		t.Fatalf("agent-0's offer has unavailability %v", draining.GetUnavailability())
	}
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT_INVERSE_OFFERS.Enum(),
		AcceptInverseOffers: &schedulerpb.Call_AcceptInverseOffers{InverseOfferIds: []*mesospb.OfferID{inverse.GetId()}}})
	waitFor(t, 10*time.Second, "the answer in the maintenance status", func() bool {
		st := operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_STATUS.Enum()}, http.StatusOK).
			GetGetMaintenanceStatus().GetStatus()
		dm := st.GetDrainingMachines()
		return len(dm) == 1 && len(dm[0].GetStatuses()) == 1 && dm[0].GetStatuses()[0].GetStatus() == masterpb.InverseOfferStatus_ACCEPT &&
			dm[0].GetStatuses()[0].GetFrameworkId().GetValue() == f.id
	})

	operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(),
		StartMaintenance: &masterpb.Call_StartMaintenance{Machines: machines("agent-0")}}, http.StatusOK)
	if st := f.waitState("on-0", mesospb.TaskState_TASK_GONE_BY_OPERATOR); st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Fatalf("the task on the downed machine: %v", st)
	}
	st := operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_STATUS.Enum()}, http.StatusOK).
		GetGetMaintenanceStatus().GetStatus()
	if len(st.GetDownMachines()) != 1 || len(st.GetDrainingMachines()) != 0 {
		t.Fatalf("status after START_MAINTENANCE: %v", st)
	}
	for _, a := range getAgents(t, c.MasterURL) {
		if a.GetAgentInfo().GetHostname() == "agent-0" {
			t.Fatal("agent-0 is still listed while its machine is down")
		}
	}
	// A down machine stays in the schedule until it is brought back.
	operatorCall(t, c.MasterURL, scheduleCall(start), http.StatusBadRequest)
	operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(),
		StopMaintenance: &masterpb.Call_StopMaintenance{Machines: machines("agent-1")}}, http.StatusBadRequest)
	operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(),
		StopMaintenance: &masterpb.Call_StopMaintenance{Machines: machines("agent-0")}}, http.StatusOK)
	st = operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_STATUS.Enum()}, http.StatusOK).
		GetGetMaintenanceStatus().GetStatus()
	sched := operatorCall(t, c.MasterURL, &masterpb.Call{Type: masterpb.Call_GET_MAINTENANCE_SCHEDULE.Enum()}, http.StatusOK)
	if len(st.GetDownMachines()) != 0 || len(sched.GetGetMaintenanceSchedule().GetSchedule().GetWindows()) != 0 {
		t.Fatalf("after STOP_MAINTENANCE: status %v, schedule %v", st, sched)
	}
	if _, err := c.RestartAgent(0); err != nil {
		t.Fatalf("agent-0 could not come back after maintenance: %v", err)
	}
}
