package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// countingStore counts the batches written to a local store and can fail
// them.
type countingStore struct {
	*store.Local
	applies, ops int
	fail         error
}

func (c *countingStore) Apply(ctx context.Context, ops []store.Op) error {
	if c.fail != nil {
		return c.fail
	}
	c.applies++
	c.ops += len(ops)
	return c.Local.Apply(ctx, ops)
}

func newAdmissionMaster(t *testing.T) (*Core, *countingStore) {
	t.Helper()
	local, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	st := &countingStore{Local: local}
	m, err := New(Config{Addr: "127.0.0.1:5050", Store: st}, Options{Post: (&testPost{}).post})
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

func subscribeCall(t *testing.T, hostname, id string) *agentpb.Call_Subscribe {
	t.Helper()
	res, err := resources.Parse("cpus:4;mem:1024", "*")
	if err != nil {
		t.Fatal(err)
	}
	info := &mesospb.AgentInfo{Hostname: proto.String(hostname), Port: proto.Int32(5051), Resources: res}
	if id != "" {
		info.Id = &mesospb.AgentID{Value: proto.String(id)}
	}
	return &agentpb.Call_Subscribe{AgentInfo: info}
}

// events drains what the master queued on a stream.
func events(conn *AgentConn) ([]agentpb.Event_Type, bool) {
	queued, closed := conn.out.(*recorder).take()
	var types []agentpb.Event_Type
	for _, ev := range queued {
		types = append(types, ev.(*agentpb.Event).GetType())
	}
	return types, closed
}

func TestAdmissionsShareOneRegistryWrite(t *testing.T) {
	m, st := newAdmissionMaster(t)
	s := m.st
	var conns []*AgentConn
	for i := range 100 {
		conn := &AgentConn{streamID: fmt.Sprint(i), out: newRecorder()}
		conns = append(conns, conn)
		m.agentSubscribe(s, subscribeCall(t, fmt.Sprintf("h%d", i), ""), conn)
	}
	// Nothing is acknowledged, nor offered, before it is durable.
	if got, _ := events(conns[0]); len(got) != 0 || len(s.agents) != 0 {
		t.Fatalf("before the write: events %v, %d agents in the state", got, len(s.agents))
	}
	m.flushAdmissions(s)
	if st.applies != 1 || st.ops != 100 {
		t.Errorf("registry writes: %d batches of %d changes in all, want 1 of 100", st.applies, st.ops)
	}
	if len(s.agents) != 100 || !s.allocationPending {
		t.Errorf("%d agents admitted (allocation pending %v), want 100", len(s.agents), s.allocationPending)
	}
	for i, conn := range conns {
		if got, closed := events(conn); len(got) != 1 || got[0] != agentpb.Event_SUBSCRIBED || closed {
			t.Fatalf("agent %d heard %v (closed %v), want SUBSCRIBED", i, got, closed)
		}
	}
	if entries, _ := st.List(context.Background(), registryAgents); len(entries) != 100 {
		t.Errorf("the registry holds %d agents, want 100", len(entries))
	}
}

func TestAdmissionOfAKnownAgentWritesNothing(t *testing.T) {
	m, st := newAdmissionMaster(t)
	s := m.st
	first := &AgentConn{streamID: "1", out: newRecorder()}
	id := m.agentSubscribe(s, subscribeCall(t, "h", ""), first)
	m.flushAdmissions(s)

	again := &AgentConn{streamID: "2", out: newRecorder()}
	m.agentSubscribe(s, subscribeCall(t, "h", id), again)
	m.flushAdmissions(s)
	if st.applies != 1 {
		t.Errorf("%d registry writes, want 1: the agent came back unchanged", st.applies)
	}
	if got, _ := events(again); len(got) != 1 || got[0] != agentpb.Event_SUBSCRIBED {
		t.Errorf("the returning agent heard %v, want SUBSCRIBED", got)
	}
	if _, closed := events(first); !closed {
		t.Error("the agent's first stream is still open")
	}
}

func TestAdmissionFailsWithTheRegistry(t *testing.T) {
	m, st := newAdmissionMaster(t)
	s := m.st
	st.fail = errors.New("disk full")
	conn := &AgentConn{streamID: "1", out: newRecorder()}
	m.agentSubscribe(s, subscribeCall(t, "h", ""), conn)
	m.flushAdmissions(s)
	if got, closed := events(conn); len(got) != 0 || !closed {
		t.Errorf("after a failed write the agent heard %v (closed %v), want nothing and a closed stream", got, closed)
	}
	if len(s.agents) != 0 || s.allocationPending {
		t.Errorf("%d agents admitted, allocation pending %v, after a failed write", len(s.agents), s.allocationPending)
	}
}

func TestAdmissionDroppedWhenItsStreamEnds(t *testing.T) {
	m, st := newAdmissionMaster(t)
	s := m.st
	conn := &AgentConn{streamID: "1", out: newRecorder()}
	id := m.agentSubscribe(s, subscribeCall(t, "h", ""), conn)
	m.agentDisconnected(s, id, conn, "client disconnected")
	m.flushAdmissions(s)
	if len(s.agents) != 0 || st.applies != 0 {
		t.Errorf("an agent gone before its write: %d agents, %d writes, want none", len(s.agents), st.applies)
	}
}

// BenchmarkAdmitAgents admits agents the way a registration storm does:
// batches of subscriptions, each batch one registry write. It reports the
// master's cost per agent (no HTTP).
func BenchmarkAdmitAgents(b *testing.B) {
	local, err := store.OpenLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	m, err := New(Config{Addr: "127.0.0.1:5050", Store: local}, Options{Post: (&testPost{}).post})
	if err != nil {
		b.Fatal(err)
	}
	res, _ := resources.Parse("cpus:8;mem:16384;disk:100000;ports:[31000-32000]", "*")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		info := &mesospb.AgentInfo{Hostname: proto.String(fmt.Sprintf("h%d", i)), Port: proto.Int32(5051), Resources: res}
		m.agentSubscribe(m.st, &agentpb.Call_Subscribe{AgentInfo: info}, &AgentConn{streamID: "s", out: newRecorder()})
		if len(m.st.admissions) == 256 {
			m.flushAdmissions(m.st)
		}
	}
	m.flushAdmissions(m.st)
}

func TestSilentAgentsShareOneRegistryWrite(t *testing.T) {
	local, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	st := &countingStore{Local: local}
	now := time.Unix(1_000_000, 0)
	m, err := New(Config{Addr: "127.0.0.1:5050", Store: st, Now: func() time.Time { return now }}, Options{Post: (&testPost{}).post})
	if err != nil {
		t.Fatal(err)
	}
	s := m.st
	for i := range 50 {
		m.agentSubscribe(s, subscribeCall(t, fmt.Sprintf("h%d", i), ""), &AgentConn{streamID: fmt.Sprint(i), out: newRecorder()})
	}
	m.flushAdmissions(s)
	now = now.Add(m.cfg.agentSilenceLimit() + time.Second)
	m.Tick()
	if st.applies != 2 || st.ops != 100 {
		t.Errorf("registry writes: %d batches of %d changes in all, want 2 (admission, unreachable) of 100", st.applies, st.ops)
	}
	for id, a := range s.agents {
		if a.health != agentUnreachable || a.conn != nil {
			t.Fatalf("agent %s is %v (connected %v) after missing its pings", id, a.health, a.conn != nil)
		}
	}
	if entries, _ := st.List(context.Background(), registryUnreachable); len(entries) != 50 {
		t.Errorf("the registry holds %d unreachable agents, want 50", len(entries))
	}
}

// Core.Pong, the one call taken off the loop, counts only on the agent's
// current subscription: not before it is admitted, not once replaced by a
// re-subscription, and not after a disconnection.
func TestPongCountsOnlyOnTheCurrentSubscription(t *testing.T) {
	m, _ := newAdmissionMaster(t)
	s := m.st
	first := &AgentConn{streamID: "first", out: newRecorder()}
	if m.Pong(first) {
		t.Fatal("a pong counted on a stream never admitted")
	}
	id := m.agentSubscribe(s, subscribeCall(t, "h", ""), first)
	m.Settle()
	if !m.Pong(first) {
		t.Fatal("a pong on the agent's subscription did not count")
	}
	second := &AgentConn{streamID: "second", out: newRecorder()}
	m.agentSubscribe(s, subscribeCall(t, "h", id), second)
	m.Settle()
	if m.Pong(first) || !m.Pong(second) {
		t.Fatal("after a re-subscription pongs must count on the new stream only")
	}
	m.AgentDisconnected(id, second, "test")
	if m.Pong(second) {
		t.Fatal("a pong counted on a disconnected stream")
	}
}
