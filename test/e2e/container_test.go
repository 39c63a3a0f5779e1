package e2e

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A ContainerInfo asking for what the agents do not do (an APPC image,
// Docker's privileged mode or bridge networks, an executor's terminal, contradictory
// networks) is refused with TASK_ERROR naming the field: run anyway, such
// a task would run on the host's root file system and network, which is
// not what its framework asked for.
func TestContainersAgentsCannotHonourAreRefused(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startHealthFramework(t, c.MasterAddr)
	mesos := mesospb.ContainerInfo_MESOS.Enum()
	appc := &mesospb.Image{Type: mesospb.Image_APPC.Enum(), Appc: &mesospb.Image_Appc{Name: proto.String("example.com/busybox")}}
	docker := mesospb.ContainerInfo_DOCKER.Enum()
	cases := []struct {
		id        string
		container *mesospb.ContainerInfo
		executor  bool // on the executor's ContainerInfo instead of the task's
		want      string
	}{
		// Images (issue 19) run through corral's own runtime, except what
		// it does not do.
		{"docker-privileged", &mesospb.ContainerInfo{Type: docker,
			Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox"), Privileged: proto.Bool(true)}}, false, "docker.privileged"},
		{"docker-bridge", &mesospb.ContainerInfo{Type: docker, Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox"),
			Network: mesospb.ContainerInfo_DockerInfo_BRIDGE.Enum(), PortMappings: []*mesospb.ContainerInfo_DockerInfo_PortMapping{
				{HostPort: proto.Uint32(31000), ContainerPort: proto.Uint32(80)}}}}, false, "docker.network BRIDGE"},
		{"docker-parameters", &mesospb.ContainerInfo{Type: docker, Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox"),
			Parameters: []*mesospb.Parameter{{Key: proto.String("cap-add"), Value: proto.String("ALL")}}}}, false, "docker.parameters"},
		{"docker-on-mesos", &mesospb.ContainerInfo{Type: mesos, Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox")}},
			false, "ContainerInfo.docker"},
		{"appc", &mesospb.ContainerInfo{Type: mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{Image: appc}}, false, "APPC"},
		{"executor-appc", &mesospb.ContainerInfo{Type: mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{Image: appc}}, true, "APPC"},
		// Networks (issue 20): a named CNI network is the agent's to attach,
		// but settings that contradict each other are refused up front.
		{"network-and-host", &mesospb.ContainerInfo{Type: mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("corral-net")}, {}}}, false,
			"container.network_infos: a container joins the host network (no name) or CNI networks, not both"},
		{"network-host-port", &mesospb.ContainerInfo{Type: mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("corral-net"),
			PortMappings: []*mesospb.NetworkInfo_PortMapping{{HostPort: proto.Uint32(8080), ContainerPort: proto.Uint32(80)}}}}}, false,
			"container.network_infos[0].port_mappings[0].host_port 8080: not among the task's ports resources"},
		{"network-container-port", &mesospb.ContainerInfo{Type: mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("corral-net"),
			PortMappings: []*mesospb.NetworkInfo_PortMapping{{HostPort: proto.Uint32(31000), ContainerPort: proto.Uint32(80)},
				{HostPort: proto.Uint32(31001), ContainerPort: proto.Uint32(80)}}}}}, true,
			"container.network_infos[0].port_mappings[1].container_port 80/tcp: already mapped by port_mappings[0]"},
		// A task's terminal is the agent's (issue 21); an executor's is not.
		{"executor-tty", &mesospb.ContainerInfo{Type: mesos, TtyInfo: &mesospb.TTYInfo{}}, true, "tty_info"},
	}
	for _, tc := range cases {
		f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
			res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
			ti := sdk.CommandTask(tc.id, tc.id, o, "touch ran", res)
			if tc.executor {
				ti.Command = nil
				ti.Executor = &mesospb.ExecutorInfo{
					ExecutorId: &mesospb.ExecutorID{Value: proto.String(tc.id)},
					Command:    &mesospb.CommandInfo{Value: proto.String("touch ran")},
					Container:  tc.container,
				}
			} else {
				ti.Container = tc.container
			}
			return ti
		}
		st := f.expect(t, tc.id, "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
		if st.GetState() != mesospb.TaskState_TASK_ERROR || !strings.Contains(st.GetMessage(), tc.want) {
			t.Errorf("%s: %s; want TASK_ERROR naming %s", tc.id, sdk.Describe(st), tc.want)
		}
	}
	// A named network passes the master; an agent without network/cni
	// refuses it rather than run the task on the host's network.
	f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
		res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
		ti := sdk.CommandTask("network", "network", o, "touch ran", res)
		ti.Container = &mesospb.ContainerInfo{Type: mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("corral-net")}}}
		return ti
	}
	st := f.expect(t, "network", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FAILED || !strings.Contains(st.GetMessage(), "no network/cni isolator") {
		t.Errorf("a named network on an agent without CNI: %s; want TASK_FAILED naming network/cni", sdk.Describe(st))
	}
	// What the agents do honour still runs: a MESOS container with a
	// hostname.
	f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
		res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
		ti := sdk.CommandTask("plain", "plain", o, "true", res)
		ti.Container = &mesospb.ContainerInfo{Type: mesos, Hostname: proto.String("plain")}
		return ti
	}
	st = f.expect(t, "plain", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("a MESOS container with a hostname: %s", sdk.Describe(st))
	}
}
