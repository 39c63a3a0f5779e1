package master

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// dynamicRes is r dynamically reserved to role, post-refinement.
func dynamicRes(name string, v float64, role string) *mesospb.Resource {
	x := resources.Scalar(name, v)
	x.Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}}
	return x
}

func volumeRes(disk *mesospb.Resource, id string) *mesospb.Resource {
	v := proto.CloneOf(disk)
	v.Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(id)},
		Volume: &mesospb.Volume{ContainerPath: proto.String(id), Mode: mesospb.Volume_RW.Enum()}}
	return v
}

func withID(op *mesospb.Offer_Operation, id string) *mesospb.Offer_Operation {
	op.Id = &mesospb.OperationID{Value: proto.String(id)}
	return op
}

func refinedIn(role string) func(*mesospb.FrameworkInfo) {
	return func(i *mesospb.FrameworkInfo) {
		i.Roles = []string{role}
		i.Capabilities = append(i.Capabilities,
			&mesospb.FrameworkInfo_Capability{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
			&mesospb.FrameworkInfo_Capability{Type: mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT.Enum()})
	}
}

func TestOfferOperationsReserveCreateAndDestroy(t *testing.T) {
	srv := startMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:1024;disk:500")
	db := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("db")))
	o := db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	disk := dynamicRes("disk", 100, "db")
	disk.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("db")}
	vol := volumeRes(disk, "data")
	task := commandTask("uses-volume", o, "cpus:0.5")
	task.Resources = append(task.Resources, vol)
	db.call(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
		OfferIds: []*mesospb.OfferID{o.GetId()},
		Operations: []*mesospb.Offer_Operation{
			withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(),
				Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{disk}}}, "reserve"),
			withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(),
				Create: &mesospb.Offer_Operation_Create{Volumes: []*mesospb.Resource{vol}}}, "create"),
			{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{task}}},
		},
		Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
	}}, http.StatusAccepted)
	for _, id := range []string{"reserve", "create"} {
		st := db.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
		if st.GetOperationId().GetValue() != id || st.GetState() != mesospb.OperationState_OPERATION_FINISHED {
			t.Fatalf("operation status %v, want %s finished", st, id)
		}
	}
	// The agent is told to checkpoint the volume before it launches the
	// task that uses it.
	for i, want := range []int{1, 1} {
		cp := agent.next(agentpb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources()
		if len(cp) != want {
			t.Fatalf("checkpoint %d holds %d resources: %v", i, len(cp), cp)
		}
	}
	launch := agent.next(agentpb.Event_LAUNCH).GetLaunch().GetTask()
	if !resources.Resources(launch.GetResources()).Contains(resources.Resources{vol}) {
		t.Fatalf("launched task lacks the volume: %v", launch.GetResources())
	}
	// The task (still staging) uses the volume: DESTROY is refused with a
	// reason.
	o = db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	db.call(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
		OfferIds: []*mesospb.OfferID{o.GetId()},
		Operations: []*mesospb.Offer_Operation{withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_DESTROY.Enum(),
			Destroy: &mesospb.Offer_Operation_Destroy{Volumes: []*mesospb.Resource{vol}}}, "destroy")},
	}}, http.StatusAccepted)
	st := db.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
	if st.GetState() != mesospb.OperationState_OPERATION_ERROR || !strings.Contains(st.GetMessage(), "in use") {
		t.Fatalf("DESTROY of a volume in use: %v", st)
	}
}

func TestReservationsAreOfferedOnlyToTheirRole(t *testing.T) {
	srv := startMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:2;mem:1024")
	reserve := &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{
		AgentId:   &mesospb.AgentID{Value: proto.String(agent.id)},
		Resources: []*mesospb.Resource{dynamicRes("cpus", 2, "db"), dynamicRes("mem", 1024, "db")},
	}}
	operator(t, srv.URL, codec.JSON, reserve, http.StatusOK)
	if cp := agent.next(agentpb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources(); len(cp) != 2 {
		t.Fatalf("checkpointed %v, want the two reservations", cp)
	}
	// Reserving again finds nothing unreserved left.
	text := post(t, srv.URL+"/api/v1", codec.JSON, "", reserve, http.StatusConflict)
	if !strings.Contains(text, "does not have") {
		t.Fatalf("second reservation refused with %q", text)
	}
	web := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("web")))
	db := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("db")))
	o := db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if r := resources.Resources(o.GetResources()); r.ScalarValue("cpus") != 2 || resources.ReservedRole(r[0]) != "db" {
		t.Fatalf("db was offered %s, want its reservation", r)
	}
	waitFor(t, func() bool {
		fws := operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).GetGetFrameworks().GetFrameworks()
		for _, f := range fws {
			if f.GetFrameworkInfo().GetId().GetValue() == web.id {
				return len(f.GetOffers()) == 0 && len(f.GetUnoffered()) > 0
			}
		}
		return false
	}, "web to be offered nothing, with a reason")

	for name, c := range map[string]struct {
		call   *masterpb.Call
		status int
	}{
		"unknown agent": {&masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &masterpb.Call_UnreserveResources{
			AgentId: &mesospb.AgentID{Value: proto.String("nope")}, Resources: []*mesospb.Resource{dynamicRes("cpus", 1, "db")}}}, http.StatusNotFound},
		"static unreserve": {&masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &masterpb.Call_UnreserveResources{
			AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, Resources: []*mesospb.Resource{resources.Scalar("cpus", 1)}}}, http.StatusBadRequest},
		"volume on unreserved disk": {&masterpb.Call{Type: masterpb.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &masterpb.Call_CreateVolumes{
			AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, Volumes: []*mesospb.Resource{volumeRes(resources.Scalar("disk", 1), "v")}}}, http.StatusBadRequest},
	} {
		if text := post(t, srv.URL+"/api/v1", codec.JSON, "", c.call, c.status); strings.TrimSpace(text) == "" {
			t.Errorf("%s: refused without a message", name)
		}
	}
}

// A master that never saw the operations (after a failover) learns an
// agent's reservations and volumes from its re-registration.
func TestReturningAgentBringsItsReservationsAndVolumes(t *testing.T) {
	srv := startMaster(t, nil)
	disk := dynamicRes("disk", 100, "db")
	vol := volumeRes(disk, "data")
	a := registerAgentWith(t, srv.URL, "cpus:2;mem:1024;disk:500", func(sub *agentpb.Call_Subscribe) {
		sub.CheckpointedResources = []*mesospb.Resource{vol, dynamicRes("cpus", 1, "db")}
	})
	a.next(agentpb.Event_SUBSCRIBED)
	// An agent claiming more than it has keeps only what it has.
	b := registerAgentWith(t, srv.URL, "cpus:1;mem:512", func(sub *agentpb.Call_Subscribe) {
		sub.CheckpointedResources = []*mesospb.Resource{dynamicRes("cpus", 4, "db")}
	})
	b.next(agentpb.Event_SUBSCRIBED)

	db := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("db")))
	var all resources.Resources
	for len(all) == 0 || all.ScalarValue("cpus") < 3 {
		for _, o := range db.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers() {
			all = all.Add(resources.Resources(o.GetResources()).Unallocate())
		}
	}
	if findVolume(all, "db", "data") == nil {
		t.Fatalf("offers %s lack the volume", all)
	}
	if got := all.Reserved("db").ScalarValue("cpus"); got != 1 {
		t.Fatalf("offers hold %v cpus reserved to db, want 1 (the bogus claim ignored)", got)
	}
	if got := all.Unreserved().ScalarValue("disk"); got != 400 {
		t.Fatalf("offers hold %v unreserved disk, want 400", got)
	}
}

// A reservation to eng is refined by a framework in eng/backend: the
// reservations stack, and the refined ones go to eng/backend only.
func TestReservationRefinementDownTheRoleTree(t *testing.T) {
	srv := startMaster(t, nil)
	agent := registerAgent(t, srv.URL, "cpus:4;mem:1024")
	operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{
		AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, Resources: []*mesospb.Resource{dynamicRes("cpus", 2, "eng")}}}, http.StatusOK)
	agent.next(agentpb.Event_CHECKPOINT_RESOURCES)

	be := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("eng/backend")))
	o := be.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if got := resources.Resources(o.GetResources()).Reserved("eng").ScalarValue("cpus"); got != 2 {
		t.Fatalf("eng/backend was offered %v cpus of eng's reservation, want 2", got)
	}
	refined := dynamicRes("cpus", 1, "eng")
	refined.Reservations = append(refined.Reservations, &mesospb.Resource_ReservationInfo{
		Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng/backend"),
		Labels: &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("owner"), Value: proto.String("be")}}}})
	refined.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("eng/backend")}
	be.call(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
		OfferIds: []*mesospb.OfferID{o.GetId()},
		Operations: []*mesospb.Offer_Operation{withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(),
			Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{refined}}}, "refine")},
		Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
	}}, http.StatusAccepted)
	if st := be.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus(); st.GetState() != mesospb.OperationState_OPERATION_FINISHED {
		t.Fatalf("refinement: %v", st)
	}
	cp := resources.Resources(agent.next(agentpb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources())
	if got := cp.Reserved("eng/backend").ScalarValue("cpus"); got != 1 {
		t.Fatalf("checkpointed %s, want 1 cpu refined to eng/backend", cp)
	}
	if got := cp.Reserved("eng").ScalarValue("cpus"); got != 1 {
		t.Fatalf("checkpointed %s, want 1 cpu still reserved to eng", cp)
	}
	// A framework in eng/frontend may use eng's remaining cpu, not the
	// refined one.
	fe := subscribe(t, srv.URL, codec.Protobuf, fwInfo(refinedIn("eng/frontend")))
	be.call(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()}, http.StatusAccepted)
	// be gives back what it holds (its outstanding offers, as the
	// operator API lists them).
	for _, f := range operator(t, srv.URL, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()}, http.StatusOK).GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetId().GetValue() != be.id {
			continue
		}
		for _, o := range f.GetOffers() {
			be.call(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
				OfferIds: []*mesospb.OfferID{o.GetId()}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)}}}, http.StatusAccepted)
		}
	}
	var seen resources.Resources
	deadline := time.Now().Add(10 * time.Second)
	for seen.Reserved("eng").ScalarValue("cpus") < 1 && time.Now().Before(deadline) {
		for _, o := range fe.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers() {
			seen = seen.Add(resources.Resources(o.GetResources()).Unallocate())
		}
	}
	if seen.Reserved("eng/backend").ScalarValue("cpus") != 0 || seen.Reserved("eng").ScalarValue("cpus") != 1 {
		t.Fatalf("eng/frontend was offered %s: want eng's 1 cpu and none of eng/backend's", seen)
	}
}

// A framework cannot destroy a volume another principal created, even in
// the same role, and destroy_volumes ACLs narrow it further.
func TestVolumesOfOtherPrincipalsCannotBeDestroyed(t *testing.T) {
	acls, err := acl.Parse([]byte(`{"destroy_volumes": [
		{"principals": {"values": ["owner"]}, "creator_principals": {"values": ["owner"]}},
		{"principals": {"type": "ANY"}, "creator_principals": {"type": "NONE"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := startMaster(t, func(c *Config) { c.ACLs = acls })
	registerAgent(t, srv.URL, "cpus:2;mem:1024;disk:500")
	as := func(principal string) func(*mesospb.FrameworkInfo) {
		return func(i *mesospb.FrameworkInfo) { refinedIn("db")(i); i.Principal = proto.String(principal) }
	}
	owner := subscribe(t, srv.URL, codec.Protobuf, fwInfo(as("owner")))
	o := owner.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	disk := dynamicRes("disk", 100, "db")
	disk.Reservations[0].Principal = proto.String("owner")
	disk.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("db")}
	vol := volumeRes(disk, "data")
	vol.Disk.Persistence.Principal = proto.String("owner")
	accept := func(s *fakeScheduler, o *mesospb.Offer, ops ...*mesospb.Offer_Operation) {
		s.call(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.GetId()}, Operations: ops,
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)}}}, http.StatusAccepted)
	}
	accept(owner, o,
		withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{disk}}}, "reserve"),
		withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_CREATE.Enum(), Create: &mesospb.Offer_Operation_Create{Volumes: []*mesospb.Resource{vol}}}, "create"))
	for range 2 {
		if st := owner.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus(); st.GetState() != mesospb.OperationState_OPERATION_FINISHED {
			t.Fatalf("owner's operation: %v", st)
		}
	}
	// The owner declined for an hour: the other framework in role db is
	// offered the volume, and may not destroy it.
	other := subscribe(t, srv.URL, codec.Protobuf, fwInfo(as("other")))
	o = other.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if !resources.Resources(o.GetResources()).Contains(resources.Resources{vol}) {
		t.Fatalf("the other framework's offer lacks the volume: %v", o.GetResources())
	}
	accept(other, o, withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_DESTROY.Enum(),
		Destroy: &mesospb.Offer_Operation_Destroy{Volumes: []*mesospb.Resource{vol}}}, "destroy"))
	st := other.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
	if st.GetState() != mesospb.OperationState_OPERATION_ERROR || !strings.Contains(st.GetMessage(), `"other" is not authorized to destroy volumes created by "owner"`) {
		t.Fatalf("DESTROY of another principal's volume: %v", st)
	}
}

// A framework in role "*" once reserved resources "to *": the allocation
// role matched the reservation's, the reservation was never validated, and
// the agent was left with cpus(*) that no task could use with its cpus.
func TestReservationToTheStarRoleIsRefused(t *testing.T) {
	srv := startMaster(t, nil)
	registerAgent(t, srv.URL, "cpus:2;mem:1024")
	fw := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	o := fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	for i, role := range []string{"*", "", "../x"} {
		cpus := dynamicRes("cpus", 1, role)
		cpus.AllocationInfo = proto.CloneOf(o.GetResources()[0].GetAllocationInfo())
		id := "reserve-" + string(rune('a'+i))
		fw.call(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.GetId()},
			Operations: []*mesospb.Offer_Operation{withID(&mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(),
				Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{cpus}}}, id)},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		}}, http.StatusAccepted)
		st := fw.next(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
		if st.GetState() != mesospb.OperationState_OPERATION_ERROR || !strings.Contains(st.GetMessage(), "role") {
			t.Fatalf("RESERVE to role %q: %v, want an error naming the role", role, st)
		}
		o = fw.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		r := resources.Resources(o.GetResources())
		if r.ScalarValue("cpus") != 2 || len(r.Unreserved()) != len(r) {
			t.Fatalf("after refused RESERVE to %q the offer holds %v, want all of it unreserved", role, r)
		}
	}
}
