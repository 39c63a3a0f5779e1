package core

import (
	"github.com/corral-sched/corral/isolators/cni/netinfo"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// validateTaskNetworks checks the networks a task's container asks for
// (issue 20): a named CNI network is the agent's to attach; settings that
// contradict each other, a container port mapped twice, or a host port
// outside the task's own ports resources (which came from its offer) are
// TASK_ERROR naming the field. A task run by a custom executor is on its
// executor's networks.
func validateTaskNetworks(t *mesospb.TaskInfo) string {
	if ex := t.GetExecutor(); ex != nil {
		if len(t.GetContainer().GetNetworkInfos()) > 0 {
			return "Task container.network_infos: a task run by an executor is on its executor's networks; name them in executor.container.network_infos"
		}
		if err := netinfo.Validate(ex.GetContainer(), resources.Resources(ex.GetResources()).Add(t.GetResources())); err != nil {
			return "Executor " + err.Error()
		}
		return ""
	}
	if err := netinfo.Validate(t.GetContainer(), t.GetResources()); err != nil {
		return "Task " + err.Error()
	}
	return ""
}

// validateGroupNetworks checks a task group's networks: the group's tasks
// share its executor's (a pod's one namespace), whose host ports come from
// the group's resources.
func validateGroupNetworks(ex *mesospb.ExecutorInfo, tasks []*mesospb.TaskInfo) string {
	all := resources.Resources(ex.GetResources())
	for _, ti := range tasks {
		if len(ti.GetContainer().GetNetworkInfos()) > 0 {
			return "Task " + ti.GetTaskId().GetValue() + " container.network_infos: the tasks of a group share their executor's networks; name them in executor.container.network_infos"
		}
		all = all.Add(ti.GetResources())
	}
	if err := netinfo.Validate(ex.GetContainer(), all); err != nil {
		return "Executor " + err.Error()
	}
	return ""
}
