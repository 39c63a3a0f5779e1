package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

func TestJSONStreamLooksLikeMesos(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := subscribeRaw(t, c.MasterURL, codec.JSON, "application/json", frameworkInfo("json"))
	if ct := f.resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	for {
		rec, ok := f.nextRaw()
		if !ok {
			t.Fatal("stream ended before an offer")
		}
		if !bytes.Contains(rec, []byte(`"type":"OFFERS"`)) {
			continue
		}
		for _, want := range []string{`"begin":31000`, `"end":32000`, `"framework_id":{"value":"` + f.id + `"}`, `"role":"*"`} {
			if !bytes.Contains(rec, []byte(want)) {
				t.Errorf("OFFERS record lacks %s:\n%s", want, rec)
			}
		}
		if bytes.Contains(rec, []byte(`"frameworkId"`)) || bytes.Contains(rec, []byte(`"31000"`)) {
			t.Errorf("OFFERS record uses camelCase names or quoted integers:\n%s", rec)
		}
		return
	}
}

func TestProtobufStreamWithDuplicatedAccept(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf, application/x-protobuf", frameworkInfo("pb"))
	if ct := f.resp.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Fatalf("Content-Type = %q, want exactly application/x-protobuf", ct)
	}
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetHostname() != "agent-0" || len(o.GetResources()) == 0 {
		t.Fatalf("unexpected offer %v", o)
	}
}

func TestMultiRoleOffersCarryAllocationInfo(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	info := frameworkInfo("multi", mesospb.FrameworkInfo_Capability_MULTI_ROLE, mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	info.Roles = []string{"web"}
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", info)
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetAllocationInfo().GetRole() != "web" {
		t.Fatalf("offer allocation_info = %v, want role web", o.GetAllocationInfo())
	}
	for _, r := range o.GetResources() {
		if r.GetAllocationInfo().GetRole() != "web" || r.Role != nil {
			t.Fatalf("resource %v lacks allocation_info.role=web or has a pre-refinement role", r)
		}
	}
}

func TestKillReconcileAndTeardown(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("kill"))
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	f.launch(o, 0, shellTask("sleeper", o, "sleep 600", "cpus:0.5;mem:32"), shellTask("sleeper2", o, "sleep 600", "cpus:0.5;mem:32"))
	f.waitState("sleeper", mesospb.TaskState_TASK_RUNNING)

	// Explicit reconciliation: a known task and an unknown one.
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{
			{TaskId: &mesospb.TaskID{Value: proto.String("sleeper")}},
			{TaskId: &mesospb.TaskID{Value: proto.String("never-launched")}},
		},
	}})
	seen := map[string]*mesospb.TaskStatus{}
	for len(seen) < 2 {
		st := f.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		f.ack(st)
		if st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION {
			seen[st.GetTaskId().GetValue()] = st
		}
	}
	if st := seen["sleeper"]; st.GetState() != mesospb.TaskState_TASK_RUNNING || len(st.GetUuid()) != 0 {
		t.Errorf("reconciled sleeper = %v, want TASK_RUNNING without uuid", st)
	}
	if st := seen["never-launched"]; st.GetState() != mesospb.TaskState_TASK_LOST || st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER {
		t.Errorf("reconciled unknown task = %v, want TASK_LOST from the master", st)
	}

	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: &schedulerpb.Call_Kill{
		TaskId: &mesospb.TaskID{Value: proto.String("sleeper")},
	}})
	f.waitState("sleeper", mesospb.TaskState_TASK_KILLED)

	// TEARDOWN kills the rest and ends the stream.
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
	for {
		if _, ok := f.nextRaw(); !ok {
			break
		}
	}
	waitFor(t, 20*time.Second, "the torn-down framework's task to be killed", func() bool {
		resp, err := http.Get(c.MasterURL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return !strings.Contains(b.String(), `corral_master_tasks{state="TASK_RUNNING"}`) &&
			strings.Contains(b.String(), `corral_master_resources{kind="used",resource="cpus"} 0`)
	})
	if code, _ := f.call(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}); code != http.StatusBadRequest {
		t.Fatalf("a call from a torn-down framework got %d, want 400", code)
	}
}

func TestDeclineFilterSuppressAndRevive(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Master: func(c *master.Config) {
		c.AllocationInterval = 50 * time.Millisecond
	}})
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("decline"))
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	declined := time.Now()
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
		OfferIds: []*mesospb.OfferID{o.GetId()}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(1)},
	}})
	o = f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if waited := time.Since(declined); waited < 900*time.Millisecond {
		t.Fatalf("the declined agent came back after %v, before its 1s filter expired", waited)
	}

	// SUPPRESS, then give the offer back: nothing comes until REVIVE.
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()})
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
		OfferIds: []*mesospb.OfferID{o.GetId()}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
	}})
	quiet := time.After(500 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case rec := <-f.raw:
			ev := &schedulerpb.Event{}
			_ = proto.Unmarshal(rec, ev)
			if ev.GetType() == schedulerpb.Event_OFFERS {
				t.Fatal("a suppressed framework got an offer")
			}
		case <-quiet:
			waiting = false
		}
	}
	f.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	f.next(schedulerpb.Event_OFFERS)
}

func TestHeartbeatsArriveAtTheConfiguredInterval(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Master: func(c *master.Config) {
		c.HeartbeatInterval = 100 * time.Millisecond
	}})
	f := subscribeRaw(t, c.MasterURL, codec.JSON, "application/json", frameworkInfo("hb"))
	start, beats := time.Now(), 0
	for beats < 4 {
		rec, ok := f.nextRaw()
		if !ok {
			t.Fatal("stream ended")
		}
		if bytes.Contains(rec, []byte(`"HEARTBEAT"`)) {
			beats++
		}
	}
	if time.Since(start) < 250*time.Millisecond {
		t.Fatalf("4 heartbeats within %v: the interval is not honoured", time.Since(start))
	}
}

func TestBadCallsLeaveOtherFrameworksServed(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	bad := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("bad"))
	o := bad.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	// A task bigger than its offer, one with NaN cpus, then a duplicate ID.
	bad.launch(o, 0, shellTask("huge", o, "true", "cpus:400"))
	if st := bad.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_ERROR {
		t.Fatalf("oversized task: %v, want TASK_ERROR", st)
	}
	o = bad.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	nan := shellTask("nan", o, "true", "cpus:1")
	nan.Resources[0].Scalar.Value = proto.Float64(nanValue())
	bad.launch(o, 0, nan)
	if st := bad.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_ERROR {
		t.Fatalf("NaN task: %v, want TASK_ERROR", st)
	}
	o = bad.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	// Refusing the rest for a while leaves the agent to the next framework.
	bad.launch(o, 60, shellTask("dup", o, "sleep 600", "cpus:0.1"), shellTask("dup", o, "sleep 600", "cpus:0.1"))
	var states []mesospb.TaskState
	for len(states) < 2 {
		st := bad.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		bad.ack(st)
		if st.GetState() == mesospb.TaskState_TASK_ERROR || st.GetState() == mesospb.TaskState_TASK_STARTING {
			states = append(states, st.GetState())
		}
	}
	if !(states[0] == mesospb.TaskState_TASK_ERROR || states[1] == mesospb.TaskState_TASK_ERROR) {
		t.Fatalf("duplicate task ID gave %v, want a TASK_ERROR", states)
	}

	// Another framework's offer cannot be used by this one.
	good := subscribeRaw(t, c.MasterURL, codec.JSON, "application/json", frameworkInfo("good"))
	bad.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()})
	goodOffer := good.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	bad.launch(goodOffer, 0, shellTask("stolen", goodOffer, "true", "cpus:0.1"))
	for {
		st := bad.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		bad.ack(st)
		if st.GetTaskId().GetValue() != "stolen" {
			continue
		}
		if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_INVALID_OFFERS {
			t.Fatalf("using another framework's offer: %v, want TASK_LOST with REASON_INVALID_OFFERS", st)
		}
		break
	}
	// ...and the other framework still runs its task on it.
	good.launch(goodOffer, 0, shellTask("fine", goodOffer, "true", "cpus:0.1;mem:16"))
	good.waitState("fine", mesospb.TaskState_TASK_FINISHED)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
