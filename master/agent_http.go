package master

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
// (proto/agentpb), protobuf only.
func (m *Master) serveAgent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != codec.Protobuf.MediaType() {
		http.Error(w, fmt.Sprintf("Expecting 'Content-Type' %s, got %q", codec.Protobuf.MediaType(), ct), http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBytes))
	if err != nil {
		http.Error(w, "Failed to read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	call := &agentpb.Call{}
	if err := codec.Protobuf.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into agent Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() == agentpb.Call_SUBSCRIBE {
		m.agentSubscribeHTTP(w, r, call)
		return
	}
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

func (m *Master) agentSubscribeHTTP(w http.ResponseWriter, r *http.Request, call *agentpb.Call) {
	sub := call.GetSubscribe()
	if msg := core.ValidateAgentSubscribe(sub); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	principal := auth.Principal(r.Context())
	if rep := m.core.AuthorizeAgent(principal); rep.Failed() {
		m.log.Warn("agent registration refused", "hostname", sub.GetAgentInfo().GetHostname(), "principal", principal, "reason", rep.Msg)
		http.Error(w, rep.Msg, httpStatus(rep.Code))
		return
	}
	ip := ""
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	streamID, box := uuid.New().String(), newOutbox()
	conn := core.NewAgentConn(streamID, box, ip, principal, sub.GetBootId())
	var adm core.AgentAdmission
	err := m.do(r.Context(), func(c *core.Core) { adm = c.SubscribeAgent(sub, conn) })
	if err == nil && adm.Takeover != "" {
		m.log.Warn("agent registration refused", "agent", sub.GetAgentInfo().GetId().GetValue(), "principal", principal, "reason", adm.Takeover)
		http.Error(w, adm.Takeover, http.StatusForbidden)
		return
	}
	if err != nil || (adm.ID == "" && !adm.Gone) {
		http.Error(w, "Master is unavailable: cannot admit the agent now", http.StatusServiceUnavailable)
		return
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
		return
	}
	var seq atomic.Uint64
	ping := func() proto.Message {
		return &agentpb.Event{
			Type: agentpb.Event_PING.Enum(),
			Ping: &agentpb.Event_Ping{Seq: proto.Uint64(seq.Add(1))},
		}
	}
	reason := box.pump(w, r, codec.Protobuf, ping, m.cfg.AgentPingTimeout)
	m.post(func(c *core.Core) { c.AgentDisconnected(adm.ID, conn, reason) })
}
