package core

import (
	"fmt"
	"slices"

	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Authorization: the master asks its ACLs (Config.ACLs, nil allows all)
// before it acts for a principal, and leaves out of its answers what the
// principal may not view. Frameworks act as their FrameworkInfo principal
// (the authenticated one when frameworks authenticate); operators as the
// principal they authenticated as, "" (any) when HTTP is open.

func forbidden(format string, args ...any) Result {
	return Result{Code: Forbidden, Msg: fmt.Sprintf(format, args...)}
}

// taskUser is the user a task runs as: its command's, else its
// framework's, as Mesos decides it.
func taskUser(ti *mesospb.TaskInfo, f *framework) string {
	if u := ti.GetCommand().GetUser(); u != "" {
		return u
	}
	if u := ti.GetExecutor().GetCommand().GetUser(); u != "" {
		return u
	}
	return f.info.GetUser()
}

// authorizeEach checks action on every object; the first refused one is
// named in the 403 by what, a format taking the object.
func (m *Core) authorizeEach(principal string, action acl.Action, what string, objects ...string) Result {
	for _, o := range objects {
		if !m.cfg.ACLs.Allowed(principal, action, o) {
			return forbidden("Principal %q is not authorized to "+what, principal, o)
		}
	}
	return Result{}
}

// authorizeRoles checks register_frameworks for every role a framework
// asks for.
func (m *Core) authorizeRoles(principal string, roles []string) Result {
	return m.authorizeEach(principal, acl.RegisterFrameworks, "register frameworks in role %q", roles...)
}

// authorizeResourceOp checks the ACL guarding a RESERVE, UNRESERVE,
// CREATE or DESTROY of res by principal; "" means allowed.
func (m *Core) authorizeResourceOp(principal string, op mesospb.Offer_Operation_Type, res []*mesospb.Resource) string {
	a := m.cfg.ACLs
	if a == nil {
		return ""
	}
	for _, x := range res {
		var (
			action acl.Action
			object string
			what   string
		)
		switch op {
		case mesospb.Offer_Operation_RESERVE:
			action, object, what = acl.ReserveResources, resources.ReservedRole(resources.Normalize(x)), "reserve resources for role"
		case mesospb.Offer_Operation_UNRESERVE:
			action, object, what = acl.UnreserveResources, reserver(x), "unreserve resources reserved by"
		case mesospb.Offer_Operation_CREATE:
			action, object, what = acl.CreateVolumes, resources.ReservedRole(resources.Normalize(x)), "create volumes in role"
		case mesospb.Offer_Operation_DESTROY:
			action, object, what = acl.DestroyVolumes, x.GetDisk().GetPersistence().GetPrincipal(), "destroy volumes created by"
		default:
			return ""
		}
		if !a.Allowed(principal, action, object) {
			return fmt.Sprintf("Principal %q is not authorized to %s %q", principal, what, object)
		}
	}
	return ""
}

// reserver is the principal of x's most refined reservation.
func reserver(x *mesospb.Resource) string {
	x = resources.Normalize(x)
	if n := len(x.GetReservations()); n > 0 {
		return x.GetReservations()[n-1].GetPrincipal()
	}
	return ""
}

// authorizeOperator decides whether principal may make an operator call
// that changes something; a zero Result means yes. Reads are filtered
// afterwards by filterView instead.
func (m *Core) authorizeOperator(s *state, principal string, call *masterpb.Call) Result {
	a := m.cfg.ACLs
	if a == nil {
		return Result{}
	}
	roles := func(action acl.Action, list ...string) Result {
		return m.authorizeEach(principal, action, string(action)+" for role %q", list...)
	}
	machines := func(action acl.Action, list []*mesospb.MachineID) Result {
		names := make([]string, len(list))
		for i, id := range list {
			names[i] = machineName(id)
		}
		return m.authorizeEach(principal, action, string(action)+" on machine %q", names...)
	}
	resourceOp := func(op mesospb.Offer_Operation_Type, res []*mesospb.Resource) Result {
		if msg := m.authorizeResourceOp(principal, op, res); msg != "" {
			return forbidden("%s", msg)
		}
		return Result{}
	}
	switch call.GetType() {
	case masterpb.Call_GET_FLAGS:
		if !a.Allowed(principal, acl.ViewFlags, acl.Any) {
			return forbidden("Principal %q is not authorized to view flags", principal)
		}
	case masterpb.Call_SET_LOGGING_LEVEL:
		if !a.Allowed(principal, acl.SetLogLevel, acl.Any) {
			return forbidden("Principal %q is not authorized to set the logging level", principal)
		}
	case masterpb.Call_UPDATE_WEIGHTS:
		var list []string
		for _, w := range call.GetUpdateWeights().GetWeightInfos() {
			list = append(list, w.GetRole())
		}
		return roles(acl.UpdateWeights, list...)
	case masterpb.Call_UPDATE_QUOTA:
		var list []string
		for _, c := range call.GetUpdateQuota().GetQuotaConfigs() {
			list = append(list, c.GetRole())
		}
		return roles(acl.UpdateQuotas, list...)
	case masterpb.Call_SET_QUOTA:
		return roles(acl.UpdateQuotas, call.GetSetQuota().GetQuotaRequest().GetRole())
	case masterpb.Call_REMOVE_QUOTA:
		return roles(acl.UpdateQuotas, call.GetRemoveQuota().GetRole())
	case masterpb.Call_RESERVE_RESOURCES:
		return resourceOp(mesospb.Offer_Operation_RESERVE, call.GetReserveResources().GetResources())
	case masterpb.Call_UNRESERVE_RESOURCES:
		return resourceOp(mesospb.Offer_Operation_UNRESERVE, call.GetUnreserveResources().GetResources())
	case masterpb.Call_CREATE_VOLUMES:
		return resourceOp(mesospb.Offer_Operation_CREATE, call.GetCreateVolumes().GetVolumes())
	case masterpb.Call_DESTROY_VOLUMES:
		return resourceOp(mesospb.Offer_Operation_DESTROY, call.GetDestroyVolumes().GetVolumes())
	case masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE:
		var list []*mesospb.MachineID
		for _, w := range call.GetUpdateMaintenanceSchedule().GetSchedule().GetWindows() {
			list = append(list, w.GetMachineIds()...)
		}
		return machines(acl.UpdateMaintenanceSchedules, list)
	case masterpb.Call_START_MAINTENANCE:
		return machines(acl.StartMaintenances, call.GetStartMaintenance().GetMachines())
	case masterpb.Call_STOP_MAINTENANCE:
		return machines(acl.StopMaintenances, call.GetStopMaintenance().GetMachines())
	case masterpb.Call_MARK_AGENT_GONE:
		if !a.Allowed(principal, acl.MarkAgentsGone, acl.Any) {
			return forbidden("Principal %q is not authorized to mark agents gone", principal)
		}
	case masterpb.Call_TEARDOWN:
		if f := s.frameworks[call.GetTeardown().GetFrameworkId().GetValue()]; f != nil &&
			!a.Allowed(principal, acl.TeardownFrameworks, f.info.GetPrincipal()) {
			return forbidden("Principal %q is not authorized to tear down frameworks of principal %q", principal, f.info.GetPrincipal())
		}
	}
	return Result{}
}

// authorizeMetrics guards GET_METRICS: the same numbers as GET /metrics,
// which get_endpoints guards (Mesos' /metrics/snapshot).
func (m *Core) authorizeMetrics(principal string) Result {
	if m.cfg.ACLs.Allowed(principal, acl.GetEndpoints, "/metrics") {
		return Result{}
	}
	return forbidden("Principal %q is not authorized to GET /metrics (get_endpoints)", principal)
}

// machineName is how ACLs name a machine: its hostname, else its IP.
func machineName(id *mesospb.MachineID) string {
	if h := id.GetHostname(); h != "" {
		return h
	}
	return id.GetIp()
}

// viewer answers, for one principal, what it may see; it caches per
// object because a large GET_STATE asks about the same users many times.
type viewer struct {
	acls      *acl.ACLs
	principal string
	memo      map[viewKey]bool
	// restricted: the ACLs can hide something at all (decided once: a
	// stream's viewer is asked on every event).
	restricted bool
}

type viewKey struct {
	action acl.Action
	object string
}

func (m *Core) viewer(principal string) *viewer {
	v := &viewer{acls: m.cfg.ACLs, principal: principal, memo: make(map[viewKey]bool)}
	for _, a := range []acl.Action{acl.ViewFrameworks, acl.ViewTasks, acl.ViewExecutors, acl.ViewRoles, acl.GetQuotas,
		acl.GetMaintenanceSchedules, acl.GetMaintenanceStatuses} {
		v.restricted = v.restricted || v.acls.Enforced(a)
	}
	return v
}

func (v *viewer) may(action acl.Action, object string) bool {
	if v == nil || v.acls == nil {
		return true
	}
	k := viewKey{action, object}
	ok, seen := v.memo[k]
	if !seen {
		ok = v.acls.Allowed(v.principal, action, object)
		v.memo[k] = ok
	}
	return ok
}

func frameworkUser(s *state, id string) string {
	if f := s.frameworks[id]; f != nil {
		return f.info.GetUser()
	}
	for _, cf := range s.completedFrameworks.items { // finished tasks of removed frameworks
		if info := cf.proto.GetFrameworkInfo(); info.GetId().GetValue() == id {
			return info.GetUser()
		}
	}
	return ""
}

// mayViewTask looks the task up to find the user it runs as.
func (v *viewer) mayViewTask(s *state, t *mesospb.Task) bool {
	user := frameworkUser(s, t.GetFrameworkId().GetValue())
	if f := s.frameworks[t.GetFrameworkId().GetValue()]; f != nil {
		if st := f.tasks[t.GetTaskId().GetValue()]; st != nil {
			user = taskUser(st.info, f)
		}
	}
	return v.may(acl.ViewTasks, user)
}

func (v *viewer) tasks(s *state, list []*mesospb.Task) []*mesospb.Task {
	return slices.DeleteFunc(list, func(t *mesospb.Task) bool { return !v.mayViewTask(s, t) })
}

func (v *viewer) filterTasks(s *state, r *masterpb.Response_GetTasks) {
	if r == nil {
		return
	}
	r.Tasks = v.tasks(s, r.Tasks)
	r.CompletedTasks = v.tasks(s, r.CompletedTasks)
	r.UnreachableTasks = v.tasks(s, r.UnreachableTasks)
}

func (v *viewer) filterFrameworks(r *masterpb.Response_GetFrameworks) {
	if r == nil {
		return
	}
	keep := func(fw *masterpb.Response_GetFrameworks_Framework) bool {
		return !v.may(acl.ViewFrameworks, fw.GetFrameworkInfo().GetUser())
	}
	r.Frameworks = slices.DeleteFunc(r.Frameworks, keep)
	r.CompletedFrameworks = slices.DeleteFunc(r.CompletedFrameworks, keep)
}

func (v *viewer) filterExecutors(s *state, r *masterpb.Response_GetExecutors) {
	if r == nil {
		return
	}
	r.Executors = slices.DeleteFunc(r.Executors, func(e *masterpb.Response_GetExecutors_Executor) bool {
		user := e.GetExecutorInfo().GetCommand().GetUser()
		if user == "" {
			user = frameworkUser(s, e.GetExecutorInfo().GetFrameworkId().GetValue())
		}
		return !v.may(acl.ViewExecutors, user)
	})
}

// filterView removes from resp what v may not view.
func (v *viewer) filterView(s *state, resp *masterpb.Response) {
	if !v.restricted || resp == nil {
		return
	}
	switch resp.GetType() {
	case masterpb.Response_GET_STATE:
		st := resp.GetGetState()
		v.filterTasks(s, st.GetGetTasks())
		v.filterFrameworks(st.GetGetFrameworks())
		v.filterExecutors(s, st.GetGetExecutors())
	case masterpb.Response_GET_TASKS:
		v.filterTasks(s, resp.GetGetTasks())
	case masterpb.Response_GET_FRAMEWORKS:
		v.filterFrameworks(resp.GetGetFrameworks())
	case masterpb.Response_GET_EXECUTORS:
		v.filterExecutors(s, resp.GetGetExecutors())
	case masterpb.Response_GET_ROLES:
		r := resp.GetGetRoles()
		r.Roles = slices.DeleteFunc(r.Roles, func(x *mesospb.Role) bool { return !v.may(acl.ViewRoles, x.GetName()) })
	case masterpb.Response_GET_WEIGHTS:
		r := resp.GetGetWeights()
		r.WeightInfos = slices.DeleteFunc(r.WeightInfos, func(x *mesospb.WeightInfo) bool { return !v.may(acl.ViewRoles, x.GetRole()) })
	case masterpb.Response_GET_QUOTA:
		st := resp.GetGetQuota().GetStatus()
		if st != nil {
			st.Infos = slices.DeleteFunc(st.Infos, func(x *masterpb.QuotaInfo) bool { return !v.may(acl.GetQuotas, x.GetRole()) })
			st.Configs = slices.DeleteFunc(st.Configs, func(x *masterpb.QuotaConfig) bool { return !v.may(acl.GetQuotas, x.GetRole()) })
		}
	case masterpb.Response_GET_MAINTENANCE_SCHEDULE:
		for _, w := range resp.GetGetMaintenanceSchedule().GetSchedule().GetWindows() {
			w.MachineIds = slices.DeleteFunc(w.MachineIds, func(id *mesospb.MachineID) bool {
				return !v.may(acl.GetMaintenanceSchedules, machineName(id))
			})
		}
	case masterpb.Response_GET_MAINTENANCE_STATUS:
		st := resp.GetGetMaintenanceStatus().GetStatus()
		if st != nil {
			st.DrainingMachines = slices.DeleteFunc(st.DrainingMachines, func(d *masterpb.ClusterStatus_DrainingMachine) bool {
				return !v.may(acl.GetMaintenanceStatuses, machineName(d.GetId()))
			})
			st.DownMachines = slices.DeleteFunc(st.DownMachines, func(id *mesospb.MachineID) bool {
				return !v.may(acl.GetMaintenanceStatuses, machineName(id))
			})
		}
	}
}

// mayViewEvent decides whether an operator stream of v gets ev.
func (v *viewer) mayViewEvent(s *state, ev *masterpb.Event) bool {
	if !v.restricted {
		return true
	}
	switch ev.GetType() {
	case masterpb.Event_TASK_ADDED:
		return v.mayViewTask(s, ev.GetTaskAdded().GetTask())
	case masterpb.Event_TASK_UPDATED:
		st := ev.GetTaskUpdated().GetStatus()
		return v.mayViewTask(s, &mesospb.Task{FrameworkId: ev.GetTaskUpdated().GetFrameworkId(), TaskId: st.GetTaskId()})
	case masterpb.Event_FRAMEWORK_ADDED:
		return v.may(acl.ViewFrameworks, ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetUser())
	case masterpb.Event_FRAMEWORK_UPDATED:
		return v.may(acl.ViewFrameworks, ev.GetFrameworkUpdated().GetFramework().GetFrameworkInfo().GetUser())
	case masterpb.Event_FRAMEWORK_REMOVED:
		return v.may(acl.ViewFrameworks, ev.GetFrameworkRemoved().GetFrameworkInfo().GetUser())
	}
	return true
}
