package core

import (
	"fmt"
	"math"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// validateCall checks a call's shape before it reaches the loop, as Mesos'
// scheduler call validation does; it returns a message for a 400, or "".
func validateCall(c *schedulerpb.Call) string {
	if msg := checkLimits(c.ProtoReflect()); msg != "" {
		return msg
	}
	t := c.GetType()
	if t == schedulerpb.Call_SUBSCRIBE {
		if c.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
		info := c.GetSubscribe().GetFrameworkInfo()
		if info == nil {
			return "Expecting 'subscribe.framework_info' to be present"
		}
		if c.FrameworkId != nil || info.Id != nil {
			if c.GetFrameworkId().GetValue() != info.GetId().GetValue() {
				return "'framework_id' differs from 'subscribe.framework_info.id'"
			}
		}
		// A framework may bring its own ID when it fails over; the agents
		// put it in sandbox paths, so it follows the rules for task IDs
		// (Mesos' validateFrameworkId).
		if id := info.GetId().GetValue(); id != "" {
			if err := validateID("Framework ID", id); err != nil {
				return "Invalid 'subscribe.framework_info.id': " + err.Error()
			}
		}
		return ""
	}
	if c.GetFrameworkId().GetValue() == "" {
		return "Expecting 'framework_id' to be present"
	}
	switch t {
	case schedulerpb.Call_ACCEPT:
		if c.Accept == nil {
			return "Expecting 'accept' to be present"
		}
		if msg := checkAcceptLimits(c.GetAccept()); msg != "" {
			return msg
		}
	case schedulerpb.Call_DECLINE:
		if c.Decline == nil {
			return "Expecting 'decline' to be present"
		}
	case schedulerpb.Call_ACCEPT_INVERSE_OFFERS:
		if c.AcceptInverseOffers == nil {
			return "Expecting 'accept_inverse_offers' to be present"
		}
	case schedulerpb.Call_DECLINE_INVERSE_OFFERS:
		if c.DeclineInverseOffers == nil {
			return "Expecting 'decline_inverse_offers' to be present"
		}
	case schedulerpb.Call_KILL:
		if c.GetKill().GetTaskId().GetValue() == "" {
			return "Expecting 'kill.task_id' to be present"
		}
	case schedulerpb.Call_SHUTDOWN:
		if c.GetShutdown().GetExecutorId().GetValue() == "" || c.GetShutdown().GetAgentId().GetValue() == "" {
			return "Expecting 'shutdown' with 'executor_id' and 'agent_id' to be present"
		}
	case schedulerpb.Call_ACKNOWLEDGE:
		ack := c.GetAcknowledge()
		if ack == nil {
			return "Expecting 'acknowledge' to be present"
		}
		if ack.GetTaskId().GetValue() == "" || ack.GetAgentId().GetValue() == "" {
			return "Expecting 'acknowledge' with 'task_id' and 'agent_id' to be present"
		}
		if len(ack.GetUuid()) != 16 {
			return fmt.Sprintf("Not a valid UUID: 'acknowledge.uuid' has %d bytes, want 16", len(ack.GetUuid()))
		}
	case schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS:
		ack := c.GetAcknowledgeOperationStatus()
		if ack == nil {
			return "Expecting 'acknowledge_operation_status' to be present"
		}
		if len(ack.GetUuid()) != 16 {
			return "Not a valid UUID in 'acknowledge_operation_status.uuid'"
		}
	case schedulerpb.Call_RECONCILE:
		if c.Reconcile == nil {
			return "Expecting 'reconcile' to be present"
		}
		for _, t := range c.GetReconcile().GetTasks() {
			if t.GetTaskId().GetValue() == "" {
				return "Expecting 'reconcile.tasks.task_id' to be present"
			}
		}
	case schedulerpb.Call_RECONCILE_OPERATIONS:
		if c.ReconcileOperations == nil {
			return "Expecting 'reconcile_operations' to be present"
		}
	case schedulerpb.Call_MESSAGE:
		msg := c.GetMessage()
		if msg == nil || msg.GetAgentId().GetValue() == "" || msg.GetExecutorId().GetValue() == "" {
			return "Expecting 'message' with 'agent_id' and 'executor_id' to be present"
		}
	case schedulerpb.Call_REQUEST:
		if c.Request == nil {
			return "Expecting 'request' to be present"
		}
	case schedulerpb.Call_UPDATE_FRAMEWORK:
		info := c.GetUpdateFramework().GetFrameworkInfo()
		if info == nil {
			return "Expecting 'update_framework.framework_info' to be present"
		}
		if info.GetId().GetValue() != c.GetFrameworkId().GetValue() {
			return "'framework_id' differs from 'update_framework.framework_info.id'"
		}
	}
	return ""
}

// frameworkRoles validates FrameworkInfo's role fields against its
// capabilities and returns the roles it subscribes with.
func frameworkRoles(info *mesospb.FrameworkInfo) ([]string, error) {
	multi := capabilitiesOf(info).multiRole
	var roles []string
	switch {
	case multi && info.Role != nil:
		return nil, fmt.Errorf("'FrameworkInfo.role' must not be set together with the MULTI_ROLE capability; use 'roles'")
	case !multi && len(info.GetRoles()) > 0:
		return nil, fmt.Errorf("'FrameworkInfo.roles' requires the MULTI_ROLE capability")
	case multi:
		roles = info.GetRoles()
	default:
		roles = []string{info.GetRole()} // defaults to "*"
	}
	seen := make(map[string]bool, len(roles))
	for _, r := range roles {
		if seen[r] {
			return nil, fmt.Errorf("'FrameworkInfo.roles' contains duplicate role %q", r)
		}
		seen[r] = true
		if r == "*" {
			continue
		}
		if err := resources.ValidateRole(r); err != nil {
			return nil, fmt.Errorf("invalid role %q: %w", r, err)
		}
	}
	return append([]string(nil), roles...), nil
}

// validateFrameworkInfo checks what SUBSCRIBE and UPDATE_FRAMEWORK carry.
func validateFrameworkInfo(info *mesospb.FrameworkInfo, suppressed []string) ([]string, error) {
	if info.User == nil {
		return nil, fmt.Errorf("'FrameworkInfo.user' is required")
	}
	if info.Name == nil {
		return nil, fmt.Errorf("'FrameworkInfo.name' is required")
	}
	ft := info.GetFailoverTimeout()
	if math.IsNaN(ft) || ft < 0 || ft*1e9 >= math.MaxInt64 {
		return nil, fmt.Errorf("'FrameworkInfo.failover_timeout' %v is not a valid duration", ft)
	}
	roles, err := frameworkRoles(info)
	if err != nil {
		return nil, err
	}
	for _, r := range suppressed {
		if !containsString(roles, r) {
			return nil, fmt.Errorf("suppressed role %q is not one of the framework's roles %v", r, roles)
		}
	}
	return roles, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateID applies Mesos' rules for framework-chosen IDs (task and
// executor IDs): they end up in paths on the agent.
func validateID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s must not be empty", kind)
	case len(id) > 255:
		return fmt.Errorf("%s is longer than 255 bytes", kind)
	case id == "." || id == "..":
		return fmt.Errorf("%s %q is not allowed", kind, id)
	case strings.ContainsAny(id, "/\\\x00") || strings.IndexFunc(id, isSpaceOrControl) >= 0:
		return fmt.Errorf("%s %q contains '/', '\\', whitespace or control characters", kind, id)
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// validateTask checks a task of a LAUNCH against its offers' agent and the
// framework's existing tasks. It returns "" for a valid task.
func validateTask(t *mesospb.TaskInfo, agentID string, f *framework) string {
	if t.Name == nil {
		return "Task has no name"
	}
	if err := validateID("Task ID", t.GetTaskId().GetValue()); err != nil {
		return err.Error()
	}
	if existing, ok := f.tasks[t.GetTaskId().GetValue()]; ok && !mesospb.IsTerminal(existing.state) {
		return fmt.Sprintf("Task has duplicate ID: %s", t.GetTaskId().GetValue())
	}
	if t.GetAgentId().GetValue() != agentID {
		return fmt.Sprintf("Task uses agent %q but its offers are for agent %q", t.GetAgentId().GetValue(), agentID)
	}
	if (t.Executor == nil) == (t.Command == nil) {
		return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	}
	if t.Executor != nil {
		if err := validateID("Executor ID", t.GetExecutor().GetExecutorId().GetValue()); err != nil {
			return err.Error()
		}
	}
	if len(t.GetResources()) == 0 {
		return "Task uses no resources"
	}
	if err := resources.Resources(t.GetResources()).Validate(); err != nil {
		return "Task uses invalid resources: " + err.Error()
	}
	if err := resources.Resources(t.GetExecutor().GetResources()).Validate(); err != nil {
		return "Executor uses invalid resources: " + err.Error()
	}
	if msg := validateContainer("Task", t.GetContainer()); msg != "" {
		return msg
	}
	if msg := validateContainer("Executor", t.GetExecutor().GetContainer()); msg != "" {
		return msg
	}
	return validateTaskNetworks(t)
}

// validateContainer refuses what a ContainerInfo asks for that corral's
// agents do not do: running such a task anyway (on the host's root, on the
// host's network) would silently break what its framework relies on.
func validateContainer(what string, c *mesospb.ContainerInfo) string {
	if c == nil {
		return ""
	}
	if msg := validateImage(what, c); msg != "" {
		return msg
	}
	if c.TtyInfo != nil && what == "Executor" {
		// A task's terminal is its agent's I/O switchboard's (issue 21);
		// an executor's stdio stays its sandbox files.
		return what + " asks for a terminal (ContainerInfo.tty_info), which corral's agents give to tasks only"
	}
	return ""
}
