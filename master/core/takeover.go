package core

import (
	"fmt"

	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// An ID is not a credential. A framework ID shows up in offers, task
// statuses and the operator API, an agent ID in GET_AGENTS and in every
// agent's meta/agent_id: whoever presents one must not become its holder
// unless it is the same party coming back. These checks run on the loop,
// before a subscription changes anything (the registry included), and
// answer 403 so that the newcomer learns why while the holder keeps its
// stream.

// checkResubscription decides whether info, subscribing with the ID of a
// framework the master knows (connected, or disconnected and within its
// failover timeout, recovered from the registry or from agents' reports),
// may take it over. The principal is the framework's identity: a
// re-subscription must come from the same one, with authentication (where
// it is the login) or without (where it is what FrameworkInfo claims). A
// new user or new roles must be what the ACLs would allow that principal
// at a first subscription; the roles are checked for every subscription
// before this (authorizeRoles), the user here, as run_tasks.
func (m *Core) checkResubscription(s *state, info *mesospb.FrameworkInfo) Result {
	id := info.GetId().GetValue()
	f := s.frameworks[id]
	if f == nil || f.placeholder {
		return Result{}
	}
	old, now := f.info.GetPrincipal(), info.GetPrincipal()
	if old != now {
		return forbidden("Framework %s belongs to principal %q; a subscription as principal %q may not take it over", id, old, now)
	}
	if info.GetUser() != f.info.GetUser() && !m.cfg.ACLs.Allowed(now, acl.RunTasks, info.GetUser()) {
		return forbidden("Principal %q is not authorized to run tasks as user %q, so framework %s (user %q) may not re-subscribe as that user",
			now, info.GetUser(), id, f.info.GetUser())
	}
	return Result{}
}

// checkFrameworkLimit refuses a new framework of a principal that already
// holds MaxFrameworksPerPrincipal. A framework already known (coming back
// after a disconnection or a master failover) is counted once, so it is
// never refused here.
func (m *Core) checkFrameworkLimit(s *state, info *mesospb.FrameworkInfo) Result {
	limit := m.cfg.MaxFrameworksPerPrincipal
	if limit == Unlimited || s.frameworks[info.GetId().GetValue()] != nil {
		return Result{}
	}
	principal, n := info.GetPrincipal(), 0
	for _, f := range s.frameworks {
		if f.info.GetPrincipal() == principal {
			n++
		}
	}
	if n < limit {
		return Result{}
	}
	who := fmt.Sprintf("principal %q", principal)
	if principal == "" {
		who = "frameworks without a principal"
	}
	return forbidden("Too many frameworks for %s: %d subscribed already, at most %d (--max-frameworks-per-principal); tear one down first",
		who, n, limit)
}

// authorizeAgent checks register_agents for the principal an agent
// authenticated as ("" without --authenticate-agents: ANY, as in Mesos).
func (m *Core) authorizeAgent(principal string) Result {
	if m.cfg.ACLs.Allowed(principal, acl.RegisterAgents, acl.Any) {
		return Result{}
	}
	if principal == "" {
		return forbidden("Unauthenticated agents are not authorized to register (register_agents)")
	}
	return forbidden("Principal %q is not authorized to register agents (register_agents)", principal)
}

// agentTakeover says why sub, arriving on conn, may not take the ID of an
// agent that is connected now, or "". It is the same agent if it comes
// with the same principal and either from the same address (hostname,
// port and source IP: the agent restarted, and its old stream is not
// closed yet) or with the holder's boot ID (the same process, back after
// a broken stream, from another source address). Anything else would
// knock the holder off, and the two would take turns: once the holder is
// disconnected, unreachable or gone, the ID is free to come back.
func (m *Core) agentTakeover(s *state, sub *agentpb.Call_Subscribe, conn *AgentConn) string {
	id := sub.GetAgentInfo().GetId().GetValue()
	a := s.agents[id]
	if id == "" || a == nil || a.conn == nil || a.conn == conn {
		return ""
	}
	held := fmt.Sprintf("Agent %s is connected from %s", id, agentAddress(a.info, a.conn))
	if a.conn.principal != conn.principal {
		return fmt.Sprintf("%s as principal %q; a registration as principal %q may not take its ID",
			held, a.conn.principal, conn.principal)
	}
	if a.conn.bootID != "" && a.conn.bootID == conn.bootID {
		return ""
	}
	same := a.info.GetHostname() == sub.GetAgentInfo().GetHostname() && a.info.GetPort() == sub.GetAgentInfo().GetPort() &&
		(a.conn.ip == "" || conn.ip == "" || a.conn.ip == conn.ip)
	if same {
		return ""
	}
	return fmt.Sprintf("%s; a registration from %s may not take its ID while it is (it is free again once that agent disconnects, becomes unreachable or is marked gone)",
		held, agentAddress(sub.GetAgentInfo(), conn))
}

// agentAddress names where an agent is: the host:port it advertises and
// the address its subscription came from.
func agentAddress(info *mesospb.AgentInfo, conn *AgentConn) string {
	return fmt.Sprintf("%s:%d (source %s)", info.GetHostname(), info.GetPort(), conn.ip)
}
