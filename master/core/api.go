package core

import (
	"fmt"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// The calls the transport makes. Validation that needs no state (Validate*,
// Authorize*) may run on any goroutine; everything else runs where the
// core is stepped.

// ValidateCall checks a scheduler call without the state: "" or what is
// wrong with it.
func ValidateCall(call *schedulerpb.Call) string { return validateCall(call) }

// ValidateAgentSubscribe checks an agent's SUBSCRIBE without the state.
func ValidateAgentSubscribe(sub *agentpb.Call_Subscribe) string { return validateAgentSubscribe(sub) }

// AuthorizeFramework says whether principal may subscribe info's roles.
func (m *Core) AuthorizeFramework(principal string, info *mesospb.FrameworkInfo) Result {
	roles, err := frameworkRoles(info)
	if err != nil {
		return Result{} // the subscription itself refuses it, saying why
	}
	return m.authorizeRoles(principal, roles)
}

// AuthorizeAgent says whether principal may register agents.
func (m *Core) AuthorizeAgent(principal string) Result { return m.authorizeAgent(principal) }

// AuthorizeMetrics says whether principal may read the metrics.
func (m *Core) AuthorizeMetrics(principal string) Result { return m.authorizeMetrics(principal) }

// Subscribe handles a framework's SUBSCRIBE. A refusal the Mesos API
// answers on the stream (ERROR, then close) is pushed to conn and gives
// no Result; one it answers with an HTTP error gives a failed Result. On
// success it returns the framework's ID.
func (m *Core) Subscribe(call *schedulerpb.Call, conn *SchedulerConn) (string, Result) {
	s := m.st
	info := call.GetSubscribe().GetFrameworkInfo()
	if rep := m.checkResubscription(s, info); rep.Failed() {
		return "", rep
	}
	if rep := m.checkFrameworkLimit(s, info); rep.Failed() {
		return "", rep
	}
	return m.subscribe(s, call, conn), Result{}
}

// SchedulerDisconnected ends a framework's subscription whose stream ended.
func (m *Core) SchedulerDisconnected(frameworkID string, conn *SchedulerConn, reason string) {
	m.schedulerDisconnected(m.st, frameworkID, conn, reason)
}

// FrameworkPrincipal is the principal a known framework subscribed as.
func (m *Core) FrameworkPrincipal(frameworkID string) (principal string, known bool) {
	f := m.st.frameworks[frameworkID]
	if f == nil {
		return "", false
	}
	return f.info.GetPrincipal(), true
}

// SchedulerCall handles a scheduler call other than SUBSCRIBE, made on the
// stream streamID (Mesos-Stream-Id).
func (m *Core) SchedulerCall(call *schedulerpb.Call, streamID string) Result {
	s := m.st
	if f := s.frameworks[call.GetFrameworkId().GetValue()]; f != nil && call.GetType() == schedulerpb.Call_UPDATE_FRAMEWORK {
		if rep := m.AuthorizeFramework(f.info.GetPrincipal(), call.GetUpdateFramework().GetFrameworkInfo()); rep.Failed() {
			return rep
		}
	}
	return m.handleCall(s, call, streamID)
}

// NewAgentConn makes the subscription for an agent's SUBSCRIBE the
// transport is answering with out. ip is where the call came from,
// principal who it authenticated as.
func NewAgentConn(streamID string, out Stream, ip, principal, bootID string) *AgentConn {
	return &AgentConn{streamID: streamID, out: out, ip: ip, principal: principal, bootID: bootID}
}

// Pong records an agent's answer to a ping on conn. Unlike every other
// method of Core it may be called from any goroutine while the loop runs:
// it touches only conn's clock. Pongs are most of a large cluster's agent
// calls (50,000 agents answer 3,300 pings a second) and need nothing of
// the state but the time; queued on the loop they waited behind
// allocation rounds, each holding a request, and piled up by the tens of
// thousands when the master was short of CPU.
//
// It reports false, recording nothing, when conn is not its agent's
// subscription (any more): AgentCall then says why.
func (m *Core) Pong(conn *AgentConn) bool {
	if !conn.current.Load() {
		return false
	}
	now := m.cfg.AgentClock()
	conn.pongedAt.Store(&now)
	return true
}

// AgentAdmission is what became of an agent's SUBSCRIBE.
type AgentAdmission struct {
	// ID is the agent's ID once admitted (SUBSCRIBED follows on its stream
	// when the registry write is done); "" if it was not.
	ID string
	// Gone: the agent was marked gone, or its machine is down; it is to be
	// told to shut down.
	Gone bool
	// Takeover, if not "", is why the agent may not take over the ID it
	// presented.
	Takeover string
}

// SubscribeAgent handles an agent's SUBSCRIBE.
func (m *Core) SubscribeAgent(sub *agentpb.Call_Subscribe, conn *AgentConn) AgentAdmission {
	s := m.st
	if s.gone[sub.GetAgentInfo().GetId().GetValue()] || s.maint.isDown(sub.GetAgentInfo()) {
		return AgentAdmission{Gone: true}
	}
	if takeover := m.agentTakeover(s, sub, conn); takeover != "" {
		return AgentAdmission{Takeover: takeover}
	}
	return AgentAdmission{ID: m.agentSubscribe(s, sub, conn)}
}

// AgentCall handles an agent's call other than SUBSCRIBE.
func (m *Core) AgentCall(call *agentpb.Call, streamID string) Result {
	return m.handleAgentCall(m.st, call, streamID)
}

// AgentDisconnected ends an agent's subscription whose stream ended.
func (m *Core) AgentDisconnected(agentID string, conn *AgentConn, reason string) {
	m.agentDisconnected(m.st, agentID, conn, reason)
}

// OperatorCall handles an operator call on the state (not SUBSCRIBE, nor
// the calls the transport answers alone) as principal, and returns the
// response filtered to what principal may see.
func (m *Core) OperatorCall(call *masterpb.Call, principal string) (*masterpb.Response, Result) {
	s := m.st
	handle := operatorHandlers[call.GetType()]
	if handle == nil {
		return nil, Result{Code: NotImplemented, Msg: fmt.Sprintf("Operator call %v is not implemented", call.GetType())}
	}
	if rep := m.authorizeOperator(s, principal, call); rep.Failed() {
		return nil, rep
	}
	resp, rep := handle(m, s, call)
	m.viewer(principal).filterView(s, resp)
	return resp, rep
}

// VersionInfo is this build's version, as GET_VERSION reports it.
func VersionInfo() *mesospb.VersionInfo { return versionInfo() }

// ValidateOperatorCall checks an operator call without the state: "" or
// what is wrong with it.
func ValidateOperatorCall(call *masterpb.Call) string {
	if call.Type == nil {
		return "Expecting 'type' to be present"
	}
	if msg := checkLimits(call.ProtoReflect()); msg != "" {
		return msg
	}
	switch call.GetType() {
	case masterpb.Call_UNKNOWN:
		return "Call type UNKNOWN is not valid"
	case masterpb.Call_MARK_AGENT_GONE:
		if call.GetMarkAgentGone().GetAgentId().GetValue() == "" {
			return "Expecting 'mark_agent_gone.agent_id' to be present"
		}
	case masterpb.Call_TEARDOWN:
		if call.GetTeardown().GetFrameworkId().GetValue() == "" {
			return "Expecting 'teardown.framework_id' to be present"
		}
	case masterpb.Call_SET_QUOTA:
		if call.GetSetQuota().GetQuotaRequest() == nil {
			return "Expecting 'set_quota.quota_request' to be present"
		}
	case masterpb.Call_REMOVE_QUOTA:
		if call.GetRemoveQuota().GetRole() == "" {
			return "Expecting 'remove_quota.role' to be present"
		}
	}
	return ""
}
