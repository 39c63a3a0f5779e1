package master

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// trySubscribe sends a SUBSCRIBE that is expected to be refused; a
// subscription that is accepted after all is ended at once.
func trySubscribe(t *testing.T, base string, info *mesospb.FrameworkInfo) (int, string) {
	t.Helper()
	body, _ := proto.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: info.GetId(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.Protobuf.MediaType())
	req.Header.Set("Accept", codec.Protobuf.MediaType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(text))
}

// stillSubscribed checks that s's stream is the framework's subscription:
// a call on it is accepted and answered on it (an ERROR, such as "Framework
// failed over", would fail next).
func (s *fakeScheduler) stillSubscribed() {
	s.t.Helper()
	s.call(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: &mesospb.TaskID{Value: proto.String("no-such-task")}}}}}, http.StatusAccepted)
	s.next(schedulerpb.Event_UPDATE)
}

func withPrincipal(p string, mutate ...func(*mesospb.FrameworkInfo)) *mesospb.FrameworkInfo {
	return fwInfo(func(i *mesospb.FrameworkInfo) {
		i.Principal = proto.String(p)
		i.FailoverTimeout = proto.Float64(3600)
		for _, m := range mutate {
			m(i)
		}
	})
}

func withFrameworkID(id string) func(*mesospb.FrameworkInfo) {
	return func(i *mesospb.FrameworkInfo) { i.Id = &mesospb.FrameworkID{Value: proto.String(id)} }
}

// Without authentication the principal a framework claims is its
// identity: another principal presenting its ID is refused, the holder
// keeps its stream, and the holder itself may fail over.
func TestResubscriptionMustKeepThePrincipal(t *testing.T) {
	srv := startMaster(t, nil)
	alice := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("alice"))
	code, body := trySubscribe(t, srv.URL, withPrincipal("bob", withFrameworkID(alice.id)))
	if code != http.StatusForbidden || !strings.Contains(body, `"alice"`) || !strings.Contains(body, `"bob"`) || !strings.Contains(body, alice.id) {
		t.Fatalf("bob subscribing with alice's framework ID: %d %q, want 403 naming both principals and the framework", code, body)
	}
	code, body = trySubscribe(t, srv.URL, withPrincipal("", withFrameworkID(alice.id)))
	if code != http.StatusForbidden {
		t.Fatalf("a subscription without a principal taking alice's framework: %d %q, want 403", code, body)
	}
	alice.stillSubscribed()
	again := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("alice", withFrameworkID(alice.id)))
	if again.id != alice.id {
		t.Fatalf("alice failed over to %s, want %s", again.id, alice.id)
	}
}

// A framework the master knows only from its registry (it was connected
// to the previous leader) is held to its principal just the same.
func TestRecoveredFrameworkKeepsItsPrincipal(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, stop := startWithStore(t, st, nil)
	alice := subscribe(t, first.URL, codec.Protobuf, withPrincipal("alice"))
	stop()
	second, _ := startWithStore(t, st, nil)
	if code, body := trySubscribe(t, second.URL, withPrincipal("bob", withFrameworkID(alice.id))); code != http.StatusForbidden || !strings.Contains(body, `"alice"`) {
		t.Fatalf("bob taking alice's recovered framework: %d %q, want 403", code, body)
	}
	if back := subscribe(t, second.URL, codec.Protobuf, withPrincipal("alice", withFrameworkID(alice.id))); back.id != alice.id {
		t.Fatalf("alice came back as %s, want %s", back.id, alice.id)
	}
}

// A new user on re-subscription must be one the principal may run tasks
// as; the roles are checked as at a first subscription.
func TestResubscriptionUserAndRolesAreAuthorized(t *testing.T) {
	acls, err := acl.Parse([]byte(`{
		"run_tasks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice", "www"]}},
		              {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}],
		"register_frameworks": [{"principals": {"values": ["alice"]}, "roles": {"values": ["*", "web"]}},
		                        {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := startMaster(t, func(c *Config) { c.ACLs = acls })
	user := func(u string) func(*mesospb.FrameworkInfo) {
		return func(i *mesospb.FrameworkInfo) { i.User = proto.String(u) }
	}
	alice := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("alice", user("alice")))
	code, body := trySubscribe(t, srv.URL, withPrincipal("alice", withFrameworkID(alice.id), user("root")))
	if code != http.StatusForbidden || !strings.Contains(body, `run tasks as user "root"`) {
		t.Fatalf("re-subscribing as user root: %d %q, want 403", code, body)
	}
	code, body = trySubscribe(t, srv.URL, withPrincipal("alice", withFrameworkID(alice.id), func(i *mesospb.FrameworkInfo) { i.Role = proto.String("db") }))
	if code != http.StatusForbidden || !strings.Contains(body, `role "db"`) {
		t.Fatalf("re-subscribing in role db: %d %q, want 403", code, body)
	}
	alice.stillSubscribed()
	www := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("alice", withFrameworkID(alice.id), user("www"), func(i *mesospb.FrameworkInfo) { i.Role = proto.String("web") }))
	if www.id != alice.id {
		t.Fatalf("an allowed change of user and role came back as %s", www.id)
	}
}

// One principal may hold at most MaxFrameworksPerPrincipal frameworks; a
// framework coming back is not counted twice, and others are unaffected.
func TestFrameworksPerPrincipalAreBounded(t *testing.T) {
	srv := startMaster(t, func(c *Config) { c.MaxFrameworksPerPrincipal = 2 })
	first := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("etl"))
	subscribe(t, srv.URL, codec.Protobuf, withPrincipal("etl"))
	code, body := trySubscribe(t, srv.URL, withPrincipal("etl"))
	if code != http.StatusForbidden || !strings.Contains(body, `principal "etl"`) || !strings.Contains(body, "at most 2") {
		t.Fatalf("etl's third framework: %d %q, want 403 naming the principal and the bound", code, body)
	}
	subscribe(t, srv.URL, codec.Protobuf, withPrincipal("web"))
	if back := subscribe(t, srv.URL, codec.Protobuf, withPrincipal("etl", withFrameworkID(first.id))); back.id != first.id {
		t.Fatalf("etl's first framework failed over to %s", back.id)
	}
	unbounded := startMaster(t, func(c *Config) { c.MaxFrameworksPerPrincipal = Unlimited })
	for range 3 {
		subscribe(t, unbounded.URL, codec.Protobuf, withPrincipal("etl"))
	}
}

// A framework that never answers an offer loses it at the offer timeout,
// and the next round offers the agent to its neighbour, not straight back
// to it.
func TestUnansweredOfferIsRescindedAndOfferedToANeighbour(t *testing.T) {
	srv := startMaster(t, func(c *Config) { c.OfferTimeout = 300 * time.Millisecond })
	registerAgent(t, srv.URL, "cpus:1;mem:64")
	hoarder := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	held := hoarder.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	neighbour := subscribe(t, srv.URL, codec.Protobuf, fwInfo(nil))
	if got := hoarder.next(schedulerpb.Event_RESCIND).GetRescind().GetOfferId().GetValue(); got != held.GetId().GetValue() {
		t.Fatalf("rescinded %s, want the held offer %s", got, held.GetId().GetValue())
	}
	o := neighbour.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetAgentId().GetValue() != held.GetAgentId().GetValue() || resources.Resources(o.GetResources()).ScalarValue("cpus") != 1 {
		t.Fatalf("the neighbour was offered %v, want the whole agent", o)
	}
}

// tryRegister opens an agent subscription and returns the fake agent if
// the master answered 200, else the status and why.
func tryRegister(t *testing.T, base string, sub *agentpb.Call_Subscribe) (*fakeAgent, int, string) {
	t.Helper()
	resp, err := subscribeAgent(context.Background(), base, sub)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, strings.TrimSpace(string(text))
	}
	s := &eventStream{t: t, resp: resp, records: make(chan []byte, 1000), streamID: resp.Header.Get(streamIDHeader)}
	go func() {
		defer close(s.records)
		r := recordio.NewReader(resp.Body, 64<<20)
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				return
			}
			s.records <- rec
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return &fakeAgent{t: t, base: base, stream: s}, http.StatusOK, ""
}

func agentSub(id, host string, port int32, boot string) *agentpb.Call_Subscribe {
	rs, _ := resources.Parse("cpus:1;mem:64", "*")
	info := &mesospb.AgentInfo{Hostname: proto.String(host), Port: proto.Int32(port), Resources: rs}
	if id != "" {
		info.Id = &mesospb.AgentID{Value: proto.String(id)}
	}
	return &agentpb.Call_Subscribe{AgentInfo: info, BootId: proto.String(boot)}
}

// pong checks that a's stream is still the agent's subscription.
func (a *fakeAgent) pong() {
	a.t.Helper()
	post(a.t, a.base+"/api/v1/agent", codec.Protobuf, a.stream.streamID, &agentpb.Call{Type: agentpb.Call_PONG.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)}, Pong: &agentpb.Call_Pong{}}, http.StatusAccepted)
}

// An agent presenting the ID of a connected agent from another address is
// refused while the holder keeps its stream; the holder restarting on its
// own address, or coming back with its boot ID, is accepted; once the
// holder is disconnected the ID is free.
func TestAgentIDOfAConnectedAgentIsNotTakenOver(t *testing.T) {
	srv := startMaster(t, nil)
	a, code, body := tryRegister(t, srv.URL, agentSub("", "host-a", 5051, "boot-a"))
	if a == nil {
		t.Fatalf("agent A: %d %q", code, body)
	}
	a.id = a.next(agentpb.Event_SUBSCRIBED).GetSubscribed().GetAgentId().GetValue()

	if _, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-b", 5051, "boot-b")); code != http.StatusForbidden ||
		!strings.Contains(body, a.id) || !strings.Contains(body, "host-a:5051") || !strings.Contains(body, "host-b:5051") {
		t.Fatalf("agent B with A's ID: %d %q, want 403 naming the ID and both addresses", code, body)
	}
	if _, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-a", 5052, "boot-b")); code != http.StatusForbidden {
		t.Fatalf("agent B with A's ID and hostname, another port: %d %q, want 403", code, body)
	}
	a.pong()

	// A restarts on its address with a new boot ID; its old stream is not
	// closed yet.
	restarted, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-a", 5051, "boot-a2"))
	if restarted == nil {
		t.Fatalf("A restarting on its address: %d %q", code, body)
	}
	restarted.id = restarted.next(agentpb.Event_SUBSCRIBED).GetSubscribed().GetAgentId().GetValue()
	// The same process back from another source address keeps its ID.
	same, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-a2", 5051, "boot-a2"))
	if same == nil {
		t.Fatalf("A's process with its boot ID from elsewhere: %d %q", code, body)
	}
	same.id = same.next(agentpb.Event_SUBSCRIBED).GetSubscribed().GetAgentId().GetValue()
	same.pong()

	same.stream.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-b", 5051, "boot-b"))
		if b != nil {
			if got := b.next(agentpb.Event_SUBSCRIBED).GetSubscribed().GetAgentId().GetValue(); got != a.id {
				t.Fatalf("B registered as %s, want the freed ID %s", got, a.id)
			}
			break
		}
		if code != http.StatusForbidden || time.Now().After(deadline) {
			t.Fatalf("B once A disconnected: %d %q", code, body)
		}
		time.Sleep(10 * time.Millisecond) // polling for the master to notice the closed stream
	}
}

func TestRegisterAgentsACLIsEnforced(t *testing.T) {
	acls, err := acl.Parse([]byte(`{"register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := startMaster(t, func(c *Config) { c.ACLs = acls })
	if _, code, body := tryRegister(t, srv.URL, agentSub("", "host-a", 5051, "boot-a")); code != http.StatusForbidden || !strings.Contains(body, "register_agents") {
		t.Fatalf("an agent the ACLs do not allow: %d %q, want 403 naming register_agents", code, body)
	}
}

// subscribeAgent sends an agent's SUBSCRIBE, which ctx can abandon.
func subscribeAgent(ctx context.Context, base string, sub *agentpb.Call_Subscribe) (*http.Response, error) {
	body, err := proto.Marshal(&agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: sub})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/agent", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", codec.Protobuf.MediaType())
	return http.DefaultClient.Do(req)
}
