package master

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/proto/agentpb"
)

// serveAgent is POST /api/v1/agent: the internal agent protocol
// (proto/agentpb), protobuf only. Its frame stays under every agent's
// event stream (agentSubscribeHTTP), so the reading and the other calls
// are in functions of their own.
func (m *Master) serveAgent(w http.ResponseWriter, r *http.Request) {
	call := readAgentCall(w, r)
	switch {
	case call == nil:
	case call.GetType() == agentpb.Call_SUBSCRIBE:
		m.agentSubscribeHTTP(w, r, call)
	case call.GetType() == agentpb.Call_PONG && m.pong(r, call):
		w.WriteHeader(http.StatusAccepted)
	default:
		m.agentCallHTTP(w, r, call)
	}
}

// pong takes a PONG off the loop (core.Pong) when it comes on a stream of
// the agent it names; otherwise the loop answers it, and says what is
// wrong with it.
func (m *Master) pong(r *http.Request, call *agentpb.Call) bool {
	v, ok := m.agentStreams.Load(r.Header.Get(streamIDHeader))
	if !ok {
		return false
	}
	s := v.(*agentStream)
	return s.id == call.GetAgentId().GetValue() && m.core.Pong(s.conn)
}

// readAgentCall reads an agent's call, or answers why it cannot and
// returns nil.
//
//go:noinline
func readAgentCall(w http.ResponseWriter, r *http.Request) *agentpb.Call {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != codec.Protobuf.MediaType() {
		http.Error(w, fmt.Sprintf("Expecting 'Content-Type' %s, got %q", codec.Protobuf.MediaType(), ct), http.StatusUnsupportedMediaType)
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBytes))
	if err != nil {
		http.Error(w, "Failed to read request body: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	call := &agentpb.Call{}
	if err := codec.Protobuf.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into agent Call: "+err.Error(), http.StatusBadRequest)
		return nil
	}
	return call
}

// agentCallHTTP answers an agent's call other than SUBSCRIBE.
func (m *Master) agentCallHTTP(w http.ResponseWriter, r *http.Request, call *agentpb.Call) {
	if call.GetAgentId().GetValue() == "" {
		http.Error(w, "Expecting 'agent_id' to be present", http.StatusBadRequest)
		return
	}
	var rep core.Result
	streamID := r.Header.Get(streamIDHeader)
	if err := m.do(r.Context(), func(c *core.Core) { rep = c.AgentCall(call, streamID) }); err != nil {
		http.Error(w, "Master is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if rep.Code != core.Accepted {
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// agentSubscribeHTTP admits an agent, then writes its event stream for as
// long as the agent stays connected. That goroutine lives as long as the
// agent, one per agent, so it parks on a shallow stack: the admission's
// calls and locals are in admitAgentStream's frame, gone before the
// stream starts, and the runtime can halve the parked stack (4 KiB less
// per agent, 200 MB at 50,000 agents).
func (m *Master) agentSubscribeHTTP(w http.ResponseWriter, r *http.Request, call *agentpb.Call) {
	s := m.admitAgentStreamWhenDue(w, r, call)
	if s == nil {
		return
	}
	m.agentGone(s, s.box.pump(w, r, codec.Protobuf, s.ping, m.cfg.AgentPingTimeout))
}

//go:noinline
func (m *Master) agentGone(s *agentStream, reason string) {
	m.agentStreams.Delete(s.streamID)
	m.post(func(c *core.Core) { c.AgentDisconnected(s.id, s.conn, reason) })
}

// maxAdmitting is how many agent registrations are handled at once.
// Without a bound, a whole fleet registering together (a cold start, a
// failover) made tens of thousands of handler goroutines runnable at once,
// and the loop, which admits them and makes their offers, waited behind
// all of them for each time slice it got: at 50,000 agents its rounds
// took seconds of wall time for milliseconds of work. Those beyond the
// bound wait parked, in arrival order, and cost the scheduler nothing.
const maxAdmitting = 256

// admitAgentStreamWhenDue is admitAgentStream within maxAdmitting.
//
//go:noinline
func (m *Master) admitAgentStreamWhenDue(w http.ResponseWriter, r *http.Request, call *agentpb.Call) *agentStream {
	select {
	case m.admitting <- struct{}{}:
	default:
		m.admissionsWaiting.Add(1)
		select {
		case m.admitting <- struct{}{}:
			m.admissionsWaiting.Add(-1)
		case <-r.Context().Done():
			m.admissionsWaiting.Add(-1)
			return nil // the agent went away while it waited
		}
	}
	var once sync.Once
	done := func() { once.Do(func() { <-m.admitting }) }
	defer done()
	return m.admitAgentStream(w, r, call, done)
}

// agentStream is an admitted agent's event stream.
type agentStream struct {
	id, streamID string
	box          *outbox
	conn         *core.AgentConn
	ping         func() proto.Message
}

// admitAgentStream validates and admits a subscribing agent and starts its
// response; decided is called once the loop has taken the agent in (or
// not). It returns nil when the agent was answered already: refused, or
// a gone agent told to shut down.
//
//go:noinline
func (m *Master) admitAgentStream(w http.ResponseWriter, r *http.Request, call *agentpb.Call, decided func()) *agentStream {
	sub := call.GetSubscribe()
	if msg := core.ValidateAgentSubscribe(sub); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return nil
	}
	principal := auth.Principal(r.Context())
	if rep := m.core.AuthorizeAgent(principal); rep.Failed() {
		m.log.Warn("agent registration refused", "hostname", sub.GetAgentInfo().GetHostname(), "principal", principal, "reason", rep.Msg)
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return nil
	}
	ip := ""
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	streamID, box := uuid.New().String(), newOutbox()
	conn := core.NewAgentConn(streamID, box, ip, principal, sub.GetBootId())
	var adm core.AgentAdmission
	err := m.do(r.Context(), func(c *core.Core) { adm = c.SubscribeAgent(sub, conn) })
	decided()
	if err == nil && adm.Takeover != "" {
		m.log.Warn("agent registration refused", "agent", sub.GetAgentInfo().GetId().GetValue(), "principal", principal, "reason", adm.Takeover)
		http.Error(w, adm.Takeover, http.StatusForbidden)
		return nil
	}
	if err != nil || (adm.ID == "" && !adm.Gone) {
		http.Error(w, "Master is unavailable: cannot admit the agent now", http.StatusServiceUnavailable)
		return nil
	}
	w.Header().Set("Content-Type", codec.Protobuf.MediaType())
	w.Header().Set(streamIDHeader, streamID)
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if adm.Gone {
		// As in Mesos, an agent marked gone is told to shut down when it
		// tries to come back: its tasks were already reported gone.
		m.log.Warn("agent marked gone (or on a machine down for maintenance) tried to register; shutting it down",
			"agent", sub.GetAgentInfo().GetId().GetValue(), "hostname", sub.GetAgentInfo().GetHostname())
		box.Push(core.ShutdownEvent("This agent was marked gone by an operator, or its machine is down for maintenance"))
		box.Close("agent is gone")
		box.pump(w, r, codec.Protobuf, nil, time.Hour)
		return nil
	}
	seq := new(atomic.Uint64)
	ping := func() proto.Message {
		return &agentpb.Event{
			Type: agentpb.Event_PING.Enum(),
			Ping: &agentpb.Event_Ping{Seq: proto.Uint64(seq.Add(1))},
		}
	}
	st := &agentStream{id: adm.ID, streamID: streamID, box: box, conn: conn, ping: ping}
	m.agentStreams.Store(streamID, st)
	return st
}
