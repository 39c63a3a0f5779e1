package core

import (
	"net"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/internal/flags"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// operatorHandler answers one operator call on the loop: a response to
// encode, or a Result with an error status (a zero Result is 200).
type operatorHandler func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result)

var operatorHandlers = map[masterpb.Call_Type]operatorHandler{
	masterpb.Call_GET_STATE: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: m.getState(s)}, Result{}
	},
	masterpb.Call_GET_AGENTS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_AGENTS.Enum(), GetAgents: m.getAgents(s)}, Result{}
	},
	masterpb.Call_GET_FRAMEWORKS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_FRAMEWORKS.Enum(), GetFrameworks: m.getFrameworks(s)}, Result{}
	},
	masterpb.Call_GET_TASKS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_TASKS.Enum(), GetTasks: m.getTasks(s)}, Result{}
	},
	masterpb.Call_GET_EXECUTORS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		// Custom executors; tasks under the built-in command executor have
		// none to list, as in Mesos.
		return &masterpb.Response{Type: masterpb.Response_GET_EXECUTORS.Enum(), GetExecutors: m.getExecutors(s)}, Result{}
	},
	masterpb.Call_GET_ROLES: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_ROLES.Enum(), GetRoles: m.getRoles(s)}, Result{}
	},
	masterpb.Call_GET_MASTER: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_MASTER.Enum(), GetMaster: &masterpb.Response_GetMaster{
			MasterInfo:  m.Info(),
			StartTime:   proto.Float64(seconds(m.startedAt)),
			ElectedTime: proto.Float64(seconds(m.startedAt)),
		}}, Result{}
	},
	masterpb.Call_GET_WEIGHTS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return m.getWeights(s), Result{}
	},
	masterpb.Call_UPDATE_WEIGHTS: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.updateWeights(s, call.GetUpdateWeights().GetWeightInfos())
	},
	masterpb.Call_GET_QUOTA: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return m.getQuota(s), Result{}
	},
	masterpb.Call_UPDATE_QUOTA: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.updateQuota(s, call.GetUpdateQuota().GetQuotaConfigs())
	},
	masterpb.Call_SET_QUOTA: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.setQuota(s, call.GetSetQuota().GetQuotaRequest())
	},
	masterpb.Call_REMOVE_QUOTA: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.removeQuota(s, call.GetRemoveQuota().GetRole())
	},
	masterpb.Call_RESERVE_RESOURCES: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		c := call.GetReserveResources()
		return nil, m.operatorOperation(s, c.GetAgentId().GetValue(), mesospb.Offer_Operation_RESERVE, c.GetResources())
	},
	masterpb.Call_UNRESERVE_RESOURCES: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		c := call.GetUnreserveResources()
		return nil, m.operatorOperation(s, c.GetAgentId().GetValue(), mesospb.Offer_Operation_UNRESERVE, c.GetResources())
	},
	masterpb.Call_CREATE_VOLUMES: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		c := call.GetCreateVolumes()
		return nil, m.operatorOperation(s, c.GetAgentId().GetValue(), mesospb.Offer_Operation_CREATE, c.GetVolumes())
	},
	masterpb.Call_DESTROY_VOLUMES: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		c := call.GetDestroyVolumes()
		return nil, m.operatorOperation(s, c.GetAgentId().GetValue(), mesospb.Offer_Operation_DESTROY, c.GetVolumes())
	},
	masterpb.Call_GET_FLAGS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		out := &masterpb.Response_GetFlags{}
		for _, name := range sortedKeys(m.cfg.Flags) {
			out.Flags = append(out.Flags, &mesospb.Flag{Name: proto.String(name), Value: proto.String(flags.Redact(name, m.cfg.Flags[name]))})
		}
		return &masterpb.Response{Type: masterpb.Response_GET_FLAGS.Enum(), GetFlags: out}, Result{}
	},
	masterpb.Call_GET_MAINTENANCE_SCHEDULE: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_MAINTENANCE_SCHEDULE.Enum(),
			GetMaintenanceSchedule: &masterpb.Response_GetMaintenanceSchedule{Schedule: proto.CloneOf(s.maint.schedule)}}, Result{}
	},
	masterpb.Call_GET_MAINTENANCE_STATUS: func(m *Core, s *state, _ *masterpb.Call) (*masterpb.Response, Result) {
		return &masterpb.Response{Type: masterpb.Response_GET_MAINTENANCE_STATUS.Enum(),
			GetMaintenanceStatus: &masterpb.Response_GetMaintenanceStatus{Status: m.maintenanceStatus(s)}}, Result{}
	},
	masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.updateSchedule(s, call.GetUpdateMaintenanceSchedule().GetSchedule())
	},
	masterpb.Call_START_MAINTENANCE: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.startMaintenance(s, call.GetStartMaintenance().GetMachines())
	},
	masterpb.Call_STOP_MAINTENANCE: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.stopMaintenance(s, call.GetStopMaintenance().GetMachines())
	},
	masterpb.Call_MARK_AGENT_GONE: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		return nil, m.markAgentGone(s, call.GetMarkAgentGone().GetAgentId().GetValue())
	},
	masterpb.Call_TEARDOWN: func(m *Core, s *state, call *masterpb.Call) (*masterpb.Response, Result) {
		id := call.GetTeardown().GetFrameworkId().GetValue()
		f := s.frameworks[id]
		if f == nil {
			return nil, badRequest("No framework found with specified ID %s", id)
		}
		m.removeFramework(s, f, "torn down by an operator")
		return nil, Result{}
	},
}

func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func timeInfo(t time.Time) *mesospb.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesospb.TimeInfo{Nanoseconds: proto.Int64(t.UnixNano())}
}

func versionInfo() *mesospb.VersionInfo {
	v := &mesospb.VersionInfo{Version: proto.String(version.Version)}
	if version.GitSHA != "" {
		v.GitSha = proto.String(version.GitSHA)
	}
	return v
}

func (m *Core) getState(s *state) *masterpb.Response_GetState {
	return &masterpb.Response_GetState{
		GetTasks:      m.getTasks(s),
		GetExecutors:  m.getExecutors(s),
		GetFrameworks: m.getFrameworks(s),
		GetAgents:     m.getAgents(s),
	}
}

// getAgents lists registered agents (active or disconnected); agents known
// only from the registry that have not come back yet are "recovered".
func (m *Core) getAgents(s *state) *masterpb.Response_GetAgents {
	out := &masterpb.Response_GetAgents{}
	for _, id := range sortedKeys(s.agents) {
		a := s.agents[id]
		if a.health == agentUnreachable {
			continue
		}
		if a.registeredAt.IsZero() {
			out.RecoveredAgents = append(out.RecoveredAgents, proto.CloneOf(a.info))
			continue
		}
		out.Agents = append(out.Agents, m.agentProto(a))
	}
	return out
}

func (m *Core) agentProto(a *agentState) *masterpb.Response_GetAgents_Agent {
	var offered resources.Resources
	for _, o := range a.offers {
		offered = offered.Add(o.resources)
	}
	var used resources.Resources
	for _, t := range a.tasks {
		if !t.released {
			used = used.Add(t.resources)
		}
	}
	for _, e := range a.executors {
		used = used.Add(e.resources)
	}
	return &masterpb.Response_GetAgents_Agent{
		AgentInfo:          proto.CloneOf(a.info),
		Active:             proto.Bool(a.health == agentActive),
		Version:            proto.String(version.Version),
		Pid:                proto.String(agentPID(a)),
		RegisteredTime:     timeInfo(a.registeredAt),
		ReregisteredTime:   timeInfo(a.reregisteredAt),
		TotalResources:     a.total.Clone(),
		AllocatedResources: used,
		OfferedResources:   offered,
	}
}

// agentPID is the agent's address as Mesos writes it ("agent@ip:port"):
// the IP its subscription came from, so that clients such as the web UI
// reach it even where its hostname does not resolve.
func agentPID(a *agentState) string {
	host := a.info.GetHostname()
	if a.conn != nil && a.conn.ip != "" {
		host = a.conn.ip
	}
	return "agent@" + net.JoinHostPort(host, strconv.Itoa(int(a.info.GetPort())))
}

func (m *Core) getFrameworks(s *state) *masterpb.Response_GetFrameworks {
	out := &masterpb.Response_GetFrameworks{}
	for _, id := range sortedKeys(s.frameworks) {
		out.Frameworks = append(out.Frameworks, m.frameworkProto(s, s.frameworks[id]))
	}
	out.CompletedFrameworks = s.completedFrameworkProtos()
	return out
}

func (m *Core) frameworkProto(s *state, f *framework) *masterpb.Response_GetFrameworks_Framework {
	fw := &masterpb.Response_GetFrameworks_Framework{
		FrameworkInfo: proto.CloneOf(f.info),
		Active:        proto.Bool(f.connected()),
		Connected:     proto.Bool(f.connected()),
		Recovered:     proto.Bool(!f.connected() && len(f.tasks) > 0 && f.info.GetName() == ""),
	}
	if !f.connected() {
		fw.UnregisteredTime = timeInfo(f.disconnectedAt)
	}
	for _, o := range f.offers {
		fw.Offers = append(fw.Offers, m.offerProto(s, o))
		fw.OfferedResources = append(fw.OfferedResources, o.resources.Clone()...)
	}
	for _, r := range sortedKeys(f.allocated) {
		fw.AllocatedResources = append(fw.AllocatedResources, f.allocated[r].Clone()...)
	}
	for _, sk := range f.unoffered {
		fw.Unoffered = append(fw.Unoffered, &masterpb.Response_GetFrameworks_Unoffered{
			Role: proto.String(sk.Role), Reason: proto.String(string(sk.Reason)), Agents: proto.Uint32(uint32(sk.Agents)),
		})
	}
	return fw
}

func (m *Core) offerProto(s *state, o *offer) *mesospb.Offer {
	a := s.agents[o.agentID]
	return &mesospb.Offer{
		Id:          &mesospb.OfferID{Value: proto.String(o.id)},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(o.frameworkID)},
		AgentId:     &mesospb.AgentID{Value: proto.String(o.agentID)},
		Hostname:    proto.String(a.info.GetHostname()),
		Resources:   o.resources.Clone(),
		Attributes:  a.info.GetAttributes(),
	}
}

func (m *Core) getTasks(s *state) *masterpb.Response_GetTasks {
	out := &masterpb.Response_GetTasks{}
	for _, id := range sortedKeys(s.frameworks) {
		f := s.frameworks[id]
		for _, tid := range sortedKeys(f.tasks) {
			if t := f.tasks[tid]; !mesospb.IsTerminal(t.state) {
				out.Tasks = append(out.Tasks, taskProto(t))
			}
		}
		for _, t := range f.unreachable.all() {
			out.UnreachableTasks = append(out.UnreachableTasks, taskProto(t))
		}
	}
	out.CompletedTasks = m.completedTasks(s)
	return out
}

// taskProto is a task as the operator API shows it.
func taskProto(t *task) *mesospb.Task {
	out := &mesospb.Task{
		Name:        t.info.Name,
		TaskId:      proto.CloneOf(t.info.GetTaskId()),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(t.frameworkID)},
		ExecutorId:  t.info.GetExecutor().GetExecutorId(),
		AgentId:     &mesospb.AgentID{Value: proto.String(t.agentID)},
		State:       t.state.Enum(),
		Resources:   t.resources.Clone(),
		Labels:      t.info.GetLabels(),
		Discovery:   t.info.GetDiscovery(),
		Container:   t.info.GetContainer(),
		HealthCheck: t.info.GetHealthCheck(),
		KillPolicy:  t.info.GetKillPolicy(),
	}
	if out.Name == nil {
		out.Name = proto.String("")
	}
	if t.executor != nil {
		out.ExecutorId = t.executor.GetExecutorId()
	}
	if t.status != nil {
		out.Statuses = []*mesospb.TaskStatus{proto.CloneOf(t.status)}
		out.StatusUpdateState = t.status.State
		out.StatusUpdateUuid = t.status.GetUuid()
	}
	return out
}

// getRoles lists the roles frameworks are subscribed with or hold
// resources in.
func (m *Core) getRoles(s *state) *masterpb.Response_GetRoles {
	type roleInfo struct {
		frameworks []*mesospb.FrameworkID
		res        resources.Resources
	}
	roles := make(map[string]*roleInfo)
	get := func(r string) *roleInfo {
		if roles[r] == nil {
			roles[r] = &roleInfo{}
		}
		return roles[r]
	}
	for r := range s.weights {
		get(r)
	}
	for r := range s.quota {
		get(r)
	}
	for _, id := range sortedKeys(s.frameworks) {
		f := s.frameworks[id]
		for _, r := range f.roles {
			ri := get(r)
			ri.frameworks = append(ri.frameworks, &mesospb.FrameworkID{Value: proto.String(f.id)})
		}
		for r, res := range f.allocated {
			get(r).res = get(r).res.Add(res)
		}
	}
	out := &masterpb.Response_GetRoles{}
	for _, r := range sortedKeys(roles) {
		out.Roles = append(out.Roles, &mesospb.Role{
			Name: proto.String(r), Weight: proto.Float64(s.weight(r)), Frameworks: roles[r].frameworks, Resources: roles[r].res,
		})
	}
	return out
}

// removeByOperator tells a's agent to shut down (why, then its stream
// closes saying closing) and reports its tasks gone by operator (msg).
func (m *Core) removeByOperator(s *state, a *agentState, why, closing, msg string) {
	if a.conn != nil {
		a.conn.out.Push(ShutdownEvent(why))
		a.conn.out.Close(closing)
		a.setConn(nil)
	}
	m.dropAgent(s, a, mesospb.TaskState_TASK_GONE_BY_OPERATOR, mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR, msg)
}

// markAgentGone ends an agent for good: its tasks are reported gone, it is
// told to shut down, and its ID may never register again. The decision is
// in the registry before anyone hears of it.
func (m *Core) markAgentGone(s *state, id string) Result {
	if s.gone[id] {
		return Result{} // idempotent, as in Mesos
	}
	a := s.agents[id]
	if a == nil {
		return Result{Code: NotFound, Msg: "Agent " + id + " is not known to this master"}
	}
	if err := m.registryPut(registryGone+"/"+id, []byte(m.cfg.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return Result{Code: Unavailable, Msg: "Could not record the agent as gone: " + err.Error()}
	}
	for _, key := range []string{registryAgents, registryUnreachable} {
		if err := m.registryDelete(key + "/" + id); err != nil {
			m.log.Error("could not clean the registry of a gone agent", "agent", id, "err", err)
		}
	}
	m.log.Warn("agent marked gone by an operator", "agent", id, "hostname", a.info.GetHostname())
	s.gone[id] = true
	m.removeByOperator(s, a, "This agent was marked gone by an operator", "agent marked gone",
		"Agent "+a.info.GetHostname()+" was marked gone by an operator")
	s.touch(a)
	delete(s.agents, id)
	m.publishAgentRemoved(s, id)
	return Result{}
}

// dropAgent rescinds an agent's offers and reports its live tasks in state
// (TASK_LOST to frameworks that are not partition-aware), releasing their
// resources. Tasks of an agent that became unreachable are kept on record
// (unreachable.go); when an agent is gone for good, so are the records
// of its unreachable tasks.
func (m *Core) dropAgent(s *state, a *agentState, state mesospb.TaskState, reason mesospb.TaskStatus_Reason, msg string) {
	unreachable := state == mesospb.TaskState_TASK_UNREACHABLE
	if !unreachable {
		m.goneUnreachable(s, a, state, reason, msg)
	}
	for _, o := range a.offers {
		m.removeOffer(s, o, true)
	}
	for k := range a.executors {
		m.removeExecutor(s, a, k)
	}
	now := m.cfg.Now()
	for _, t := range a.tasks {
		if mesospb.IsTerminal(t.state) {
			m.forgetTask(s, t)
			continue
		}
		f := s.frameworks[t.frameworkID]
		st := &mesospb.TaskStatus{
			TaskId:    t.info.GetTaskId(),
			State:     mesospb.TaskState_TASK_LOST.Enum(),
			AgentId:   &mesospb.AgentID{Value: proto.String(a.id)},
			Source:    mesospb.TaskStatus_SOURCE_MASTER.Enum(),
			Reason:    reason.Enum(),
			Message:   proto.String(msg),
			Timestamp: proto.Float64(seconds(now)),
		}
		if f != nil {
			st.State = lostState(f, state).Enum()
		}
		if unreachable {
			st.UnreachableTime = timeInfo(now)
		}
		m.countUpdate(st, false)
		m.sendToFramework(f, updateEvent(st))
		if !unreachable {
			t.state, t.status = st.GetState(), st // how it ended, for the history
		}
		m.forgetTask(s, t)
		latest := st.GetState()
		if unreachable && f != nil {
			m.keepUnreachable(s, f, a, t, st, now)
			latest = t.state
		}
		m.publishTaskUpdated(s, t.frameworkID, st, latest)
	}
	s.allocationPending = true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
