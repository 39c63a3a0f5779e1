package core

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// addExecutor records a custom executor on an agent and charges its
// resources to the agent and its framework's role.
func (m *Core) addExecutor(s *state, a *agentState, k taskKey, e *executor) {
	if a.executors == nil {
		a.executors = make(map[taskKey]*executor)
	}
	a.executors[k] = e
	s.hold(a, s.frameworks[k.framework], e.role, e.resources)
}

// removeExecutor releases an executor's resources once the agent says it
// ended (or no longer has it).
func (m *Core) removeExecutor(s *state, a *agentState, k taskKey) {
	e := a.executors[k]
	if e == nil {
		return
	}
	delete(a.executors, k)
	s.release(a, s.frameworks[k.framework], e.role, e.resources)
}

// reregisterExecutors makes the master's executors of a re-registering
// agent exactly those it reports: a new master learns them, and ones that
// ended while the agent was away are released.
func (m *Core) reregisterExecutors(s *state, a *agentState, infos []*mesospb.ExecutorInfo) {
	seen := make(map[taskKey]bool, len(infos))
	for _, info := range infos {
		k := taskKey{info.GetFrameworkId().GetValue(), info.GetExecutorId().GetValue()}
		if k.framework == "" || k.task == "" {
			continue
		}
		seen[k] = true
		if a.executors[k] != nil {
			continue
		}
		res := resources.Resources(info.GetResources()).Clone()
		role := ""
		if len(res) > 0 {
			role = res[0].GetAllocationInfo().GetRole()
		}
		m.addExecutor(s, a, k, &executor{info: proto.CloneOf(info), role: role, resources: res})
	}
	for k := range a.executors {
		if !seen[k] {
			m.removeExecutor(s, a, k)
		}
	}
}

// shutdownExecutor carries a framework's SHUTDOWN to the executor's agent.
// As in Mesos the call is answered 202 at once and acted on
// asynchronously; the framework learns the outcome from its tasks'
// updates. An agent the master does not know, or one that is not
// connected, drops it (Mesos does the same).
func (m *Core) shutdownExecutor(s *state, f *framework, c *schedulerpb.Call_Shutdown) {
	a := s.agents[c.GetAgentId().GetValue()]
	if !m.sendToAgent(a, &agentpb.Event{
		Type:             agentpb.Event_SHUTDOWN_EXECUTOR.Enum(),
		ShutdownExecutor: &agentpb.Event_ShutdownExecutor{FrameworkId: f.info.GetId(), ExecutorId: c.GetExecutorId()},
	}) {
		m.log.Info("dropping SHUTDOWN for an executor on an agent that is not connected", "framework", f.id,
			"executor", c.GetExecutorId().GetValue(), "agent", c.GetAgentId().GetValue())
	}
}

// executorIDs lists the framework's executors running on the agent, for
// Offer.executor_ids.
func (a *agentState) executorIDs(framework string) []*mesospb.ExecutorID {
	var ids []*mesospb.ExecutorID
	for k := range a.executors {
		if k.framework == framework {
			ids = append(ids, &mesospb.ExecutorID{Value: proto.String(k.task)})
		}
	}
	slices.SortFunc(ids, func(x, y *mesospb.ExecutorID) int { return strings.Compare(x.GetValue(), y.GetValue()) })
	return ids
}

// getExecutors answers GET_EXECUTORS.
func (m *Core) getExecutors(s *state) *masterpb.Response_GetExecutors {
	out := &masterpb.Response_GetExecutors{}
	for _, id := range sortedKeys(s.agents) {
		a := s.agents[id]
		keys := make([]taskKey, 0, len(a.executors))
		for k := range a.executors {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y taskKey) int {
			return strings.Compare(x.framework+"/"+x.task, y.framework+"/"+y.task)
		})
		for _, k := range keys {
			out.Executors = append(out.Executors, &masterpb.Response_GetExecutors_Executor{
				ExecutorInfo: a.executors[k].info, AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
			})
		}
	}
	return out
}
