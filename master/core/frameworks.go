package core

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// subscribe handles SUBSCRIBE. The transport has not answered the
// request yet; whatever the outcome, conn's stream says it (SUBSCRIBED, or
// ERROR and close, as Mesos answers a FrameworkInfo it refuses). It returns
// the framework ID on success.
func (m *Core) subscribe(s *state, call *schedulerpb.Call, conn *SchedulerConn) string {
	sub := call.GetSubscribe()
	info := proto.CloneOf(sub.GetFrameworkInfo())
	refuse := func(msg string) string {
		m.log.Info("framework subscription refused", "name", info.GetName(), "reason", msg)
		conn.out.Push(errorEvent(msg))
		conn.out.Close(msg)
		return ""
	}
	roles, err := validateFrameworkInfo(info, sub.GetSuppressedRoles())
	if err != nil {
		return refuse(err.Error())
	}
	id := info.GetId().GetValue()
	if msg := m.refusedFrameworkID(s, id); msg != "" {
		return refuse(msg)
	}
	if id == "" {
		s.nextFramework++
		id = fmt.Sprintf("%s-%04d", m.term, s.nextFramework)
		info.Id = &mesospb.FrameworkID{Value: proto.String(id)}
	}
	if err := m.recordFramework(&framework{id: id, info: info}, time.Time{}); err != nil {
		m.log.Error("framework not admitted", "framework", id, "err", err)
		return refuse("The master cannot record the framework right now; retry")
	}
	f := s.frameworks[id]
	added := f == nil
	if f == nil {
		f = &framework{
			id:        id,
			offers:    make(map[string]*offer),
			tasks:     make(map[string]*task),
			allocated: make(map[string]resources.Resources),
		}
		s.frameworks[id] = f
		m.log.Info("framework subscribed", "framework", id, "name", info.GetName(), "roles", roles)
	} else {
		if f.conn != nil {
			f.conn.out.Push(errorEvent("Framework failed over"))
			f.conn.out.Close("framework failed over")
		}
		if f.failoverTimer != nil {
			f.failoverTimer.Stop()
			f.failoverTimer = nil
		}
		// Offers made to the previous instance are void (Mesos rescinds
		// them on failover); the new instance gets fresh ones.
		for _, o := range f.offers {
			m.removeOffer(s, o, false)
		}
		m.log.Info("framework re-subscribed", "framework", id, "name", info.GetName(), "roles", roles)
	}
	f.info, f.roles, f.caps, f.placeholder = info, roles, capabilitiesOf(info), false
	f.suppressed = make(map[string]bool)
	for _, r := range sub.GetSuppressedRoles() {
		f.suppressed[r] = true
	}
	f.conn = conn
	f.disconnectedAt = time.Time{}

	conn.out.Push(&schedulerpb.Event{
		Type: schedulerpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &schedulerpb.Event_Subscribed{
			FrameworkId:              info.Id,
			HeartbeatIntervalSeconds: proto.Float64(m.cfg.HeartbeatInterval.Seconds()),
			MasterInfo:               m.Info(),
		},
	})
	conn.out.Push(HeartbeatEvent())
	s.requestFullRound()
	m.publishFramework(s, f, added)
	return id
}

func errorEvent(msg string) *schedulerpb.Event {
	return &schedulerpb.Event{
		Type:  schedulerpb.Event_ERROR.Enum(),
		Error: &schedulerpb.Event_Error{Message: proto.String(msg)},
	}
}

// schedulerDisconnected runs when a framework's stream ended. A framework
// whose failover_timeout passes without a new subscription is torn down.
func (m *Core) schedulerDisconnected(s *state, id string, conn *SchedulerConn, reason string) {
	f := s.frameworks[id]
	if f == nil || f.conn != conn {
		return // removed, or already replaced by a newer subscription
	}
	f.conn = nil
	f.disconnectedAt = m.cfg.Now()
	for _, o := range f.offers {
		m.removeOffer(s, o, false)
	}
	timeout := time.Duration(f.info.GetFailoverTimeout() * float64(time.Second))
	m.log.Info("framework disconnected", "framework", id, "reason", reason, "failover_timeout", timeout)
	if timeout <= 0 {
		m.removeFramework(s, f, "framework disconnected without a failover timeout")
		return
	}
	if err := m.recordFramework(f, f.disconnectedAt.Add(timeout)); err != nil {
		m.log.Error("could not record the framework's failover deadline", "framework", id, "err", err)
	}
	m.startFailoverTimer(s, f, timeout)
	m.publishFramework(s, f, false)
}

// removeFramework tears a framework down: its offers go back, its tasks
// are killed, and its ID can never subscribe again.
func (m *Core) removeFramework(s *state, f *framework, reason string) {
	m.log.Info("removing framework", "framework", f.id, "reason", reason)
	if f.conn != nil {
		f.conn.out.Close(reason)
		f.conn = nil
	}
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
	}
	for _, o := range f.offers {
		m.removeOffer(s, o, false)
	}
	agents := make(map[string]bool)
	now := m.cfg.Now()
	for _, id := range sortedKeys(f.tasks) {
		t := f.tasks[id]
		m.releaseTask(s, t)
		if a := s.agents[t.agentID]; a != nil {
			delete(a.tasks, taskKey{f.id, t.info.GetTaskId().GetValue()})
			agents[a.id] = true
		}
		if !mesospb.IsTerminal(t.state) {
			// Its agent kills it; operators hear it now, as Mesos tells them.
			st := m.killedByRemoval(t, now)
			t.state, t.status = st.GetState(), st
			m.countUpdate(st, false)
			m.publishTaskUpdated(s, f.id, st, t.state)
		}
		m.completeTask(s, f, t)
	}
	// Agents with its executors too, even if those have no tasks left.
	for id, a := range s.agents {
		for k := range a.executors {
			if k.framework == f.id {
				agents[id] = true
			}
		}
	}
	for id := range agents {
		m.sendToAgent(s.agents[id], &agentpb.Event{
			Type:              agentpb.Event_SHUTDOWN_FRAMEWORK.Enum(),
			ShutdownFramework: &agentpb.Event_ShutdownFramework{FrameworkId: f.info.GetId()},
		})
	}
	delete(s.frameworks, f.id)
	m.completeFramework(s, f)
	m.publishFrameworkRemoved(s, f)
	if err := m.forgetFramework(s, f.id); err != nil {
		m.log.Error("could not record the framework's removal", "framework", f.id, "err", err)
	}
	s.requestFullRound()
}

// handleCall runs every call but SUBSCRIBE on the loop, after the checks
// Mesos makes in this order: known framework, subscribed, stream ID.
func (m *Core) handleCall(s *state, call *schedulerpb.Call, streamID string) Result {
	id := call.GetFrameworkId().GetValue()
	f := s.frameworks[id]
	if f == nil {
		return badRequest("Framework cannot be found")
	}
	if f.conn == nil {
		return Result{Code: Forbidden, Msg: "Framework is not subscribed"}
	}
	if streamID == "" {
		return badRequest("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID != f.conn.streamID {
		return badRequest("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, id)
	}
	switch call.GetType() {
	case schedulerpb.Call_TEARDOWN:
		m.removeFramework(s, f, "framework asked for teardown")
	case schedulerpb.Call_ACCEPT:
		m.accept(s, f, call.GetAccept())
	case schedulerpb.Call_DECLINE:
		m.decline(s, f, call.GetDecline().GetOfferIds(), call.GetDecline().GetFilters())
	case schedulerpb.Call_REVIVE:
		return m.suppress(s, f, call.GetRevive().GetRoles(), false)
	case schedulerpb.Call_SUPPRESS:
		return m.suppress(s, f, call.GetSuppress().GetRoles(), true)
	case schedulerpb.Call_KILL:
		m.kill(s, f, call.GetKill())
	case schedulerpb.Call_ACKNOWLEDGE:
		m.acknowledge(s, f, call.GetAcknowledge())
	case schedulerpb.Call_RECONCILE:
		m.reconcile(s, f, call.GetReconcile().GetTasks())
	case schedulerpb.Call_MESSAGE:
		m.frameworkMessage(s, f, call.GetMessage())
	case schedulerpb.Call_UPDATE_FRAMEWORK:
		return m.updateFramework(s, f, call.GetUpdateFramework())
	case schedulerpb.Call_SHUTDOWN:
		m.shutdownExecutor(s, f, call.GetShutdown())
	case schedulerpb.Call_ACCEPT_INVERSE_OFFERS:
		m.answerInverseOffers(s, f, call.GetAcceptInverseOffers().GetInverseOfferIds(), masterpb.InverseOfferStatus_ACCEPT)
	case schedulerpb.Call_DECLINE_INVERSE_OFFERS:
		m.answerInverseOffers(s, f, call.GetDeclineInverseOffers().GetInverseOfferIds(), masterpb.InverseOfferStatus_DECLINE)
	case schedulerpb.Call_REQUEST, schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS,
		schedulerpb.Call_RECONCILE_OPERATIONS:
		// Accepted and ignored, as Mesos' default allocator does with
		// REQUEST; operations are not tracked yet.
	default:
		return Result{Code: NotImplemented, Msg: fmt.Sprintf("Call type %v is not implemented", call.GetType())}
	}
	return accepted
}

// suppress stops (SUPPRESS) or resumes (REVIVE) offers to roles of f, all
// of its roles when none are named.
func (m *Core) suppress(s *state, f *framework, roles []string, suppress bool) Result {
	call := "REVIVE"
	if suppress {
		call = "SUPPRESS"
	}
	if bad := unknownRoles(f, roles); bad != "" {
		return badRequest("%s names role %q, which the framework is not subscribed to", call, bad)
	}
	if len(roles) == 0 {
		roles = f.roles
	}
	for _, r := range roles {
		if suppress {
			f.suppressed[r] = true
		} else {
			delete(f.suppressed, r)
		}
	}
	if !suppress {
		// Filters are per agent, not per role; reviving any role clears
		// them all, as Mesos did before per-role filters.
		f.filters = nil
		s.requestFullRound()
	}
	return accepted
}

func unknownRoles(f *framework, roles []string) string {
	for _, r := range roles {
		if !f.hasRole(r) {
			return r
		}
	}
	return ""
}

func (m *Core) updateFramework(s *state, f *framework, u *schedulerpb.Call_UpdateFramework) Result {
	info := proto.CloneOf(u.GetFrameworkInfo())
	roles, err := validateFrameworkInfo(info, u.GetSuppressedRoles())
	if err != nil {
		return badRequest("%v", err)
	}
	old := f.info
	if info.GetPrincipal() != old.GetPrincipal() || info.GetUser() != old.GetUser() || info.GetCheckpoint() != old.GetCheckpoint() {
		return badRequest("UPDATE_FRAMEWORK cannot change 'principal', 'user' or 'checkpoint'")
	}
	// The next leader must restore these roles and this failover_timeout,
	// so the registry has them before the framework hears 200. Only a
	// subscribed framework gets here: no failover deadline runs.
	if err := m.recordFramework(&framework{id: f.id, info: info}, time.Time{}); err != nil {
		m.log.Error("framework update not recorded", "framework", f.id, "err", err)
		return Result{Code: Unavailable, Msg: "The master cannot record the framework's update right now; retry"}
	}
	f.info, f.roles, f.caps = info, roles, capabilitiesOf(info)
	f.suppressed = make(map[string]bool)
	for _, r := range u.GetSuppressedRoles() {
		f.suppressed[r] = true
	}
	for _, o := range f.offers {
		if !f.hasRole(o.role) {
			m.removeOffer(s, o, true)
		}
	}
	s.requestFullRound()
	return Result{Code: OK}
}

func (m *Core) frameworkMessage(s *state, f *framework, msg *schedulerpb.Call_Message) {
	a := s.agents[msg.GetAgentId().GetValue()]
	if a == nil {
		return // best effort, as in Mesos
	}
	m.sendToAgent(a, &agentpb.Event{
		Type: agentpb.Event_MESSAGE.Enum(),
		Message: &agentpb.Event_Message{
			FrameworkId: f.info.GetId(),
			ExecutorId:  msg.GetExecutorId(),
			Data:        msg.GetData(),
		},
	})
}

// sendToFramework queues ev on the framework's stream if it has one.
func (m *Core) sendToFramework(f *framework, ev *schedulerpb.Event) bool {
	if f == nil || f.conn == nil {
		return false
	}
	return f.conn.out.Push(ev)
}

// HeartbeatEvent is the scheduler API's HEARTBEAT.
func HeartbeatEvent() proto.Message {
	return &schedulerpb.Event{Type: schedulerpb.Event_HEARTBEAT.Enum()}
}
