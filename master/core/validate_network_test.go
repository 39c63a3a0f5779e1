package core

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func onNetwork(name string, mappings ...[2]uint32) *mesospb.ContainerInfo {
	ni := &mesospb.NetworkInfo{Name: proto.String(name)}
	for _, m := range mappings {
		ni.PortMappings = append(ni.PortMappings, &mesospb.NetworkInfo_PortMapping{HostPort: proto.Uint32(m[0]), ContainerPort: proto.Uint32(m[1])})
	}
	return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), NetworkInfos: []*mesospb.NetworkInfo{ni}}
}

// A task's, an executor's and a group's networks: host ports come from
// their own resources, and networks belong to the executor when there is
// one.
func TestNetworkValidationNamesTheField(t *testing.T) {
	ports := []*mesospb.Resource{resources.Scalar("cpus", 1), resources.Range("ports", 31000, 31001)}
	task := func(ci *mesospb.ContainerInfo) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String("t")}, Resources: ports, Container: ci}
	}
	withExecutor := func(ci, taskCI *mesospb.ContainerInfo) *mesospb.TaskInfo {
		ti := task(taskCI)
		ti.Executor = &mesospb.ExecutorInfo{Container: ci, Resources: []*mesospb.Resource{resources.Range("ports", 31005, 31005)}}
		return ti
	}
	for _, c := range []struct {
		name string
		ti   *mesospb.TaskInfo
		want string
	}{
		{"named network with its ports", task(onNetwork("corral-net", [2]uint32{31000, 80})), ""},
		{"host port not the task's", task(onNetwork("corral-net", [2]uint32{8080, 80})),
			"Task container.network_infos[0].port_mappings[0].host_port 8080: not among the task's ports resources ([31000-31001])"},
		{"executor's network with the executor's port", withExecutor(onNetwork("corral-net", [2]uint32{31005, 80}), nil), ""},
		{"a custom executor's task names networks", withExecutor(nil, onNetwork("corral-net")),
			"Task container.network_infos: a task run by an executor is on its executor's networks"},
	} {
		got := validateTaskNetworks(c.ti)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	ex := &mesospb.ExecutorInfo{Container: onNetwork("corral-net", [2]uint32{31000, 80}, [2]uint32{31001, 81}),
		Resources: []*mesospb.Resource{resources.Scalar("cpus", 0.1)}}
	tasks := []*mesospb.TaskInfo{{TaskId: &mesospb.TaskID{Value: proto.String("a")}, Resources: []*mesospb.Resource{resources.Range("ports", 31000, 31000)}},
		{TaskId: &mesospb.TaskID{Value: proto.String("b")}, Resources: []*mesospb.Resource{resources.Range("ports", 31001, 31001)}}}
	if msg := validateGroupNetworks(ex, tasks); msg != "" {
		t.Errorf("a group mapping its tasks' ports: %s", msg)
	}
	if msg := validateGroupNetworks(ex, tasks[:1]); !strings.Contains(msg, "Executor container.network_infos[0].port_mappings[1].host_port 31001: not among") {
		t.Errorf("a group mapping a port none of it holds: %q", msg)
	}
	tasks[1].Container = onNetwork("other")
	if msg := validateGroupNetworks(ex, tasks); !strings.Contains(msg, "Task b container.network_infos: the tasks of a group share their executor's networks") {
		t.Errorf("a group's task naming networks: %q", msg)
	}
}
