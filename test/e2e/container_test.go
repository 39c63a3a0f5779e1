package e2e

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A ContainerInfo asking for what the agents do not do (an image, Docker,
// a container network, a terminal) is refused with TASK_ERROR naming the
// field: run anyway, such a task would run on the host's root file system
// and network, which is not what its framework asked for.
func TestContainersAgentsCannotHonourAreRefused(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	f := startHealthFramework(t, c.MasterAddr)
	mesos := mesospb.ContainerInfo_MESOS.Enum()
	image := &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String("127.0.0.1:5000/busybox:1")}}
	cases := []struct {
		id        string
		container *mesospb.ContainerInfo
		executor  bool // on the executor's ContainerInfo instead of the task's
		want      string
	}{
		{"docker", &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(),
			Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox")}}, false, "type DOCKER"},
		{"image", &mesospb.ContainerInfo{Type: mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{Image: image}}, false, "mesos.image"},
		{"executor-image", &mesospb.ContainerInfo{Type: mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{Image: image}}, true, "mesos.image"},
		{"network", &mesospb.ContainerInfo{Type: mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("corral-net")}}}, false, "network_infos"},
		{"tty", &mesospb.ContainerInfo{Type: mesos, TtyInfo: &mesospb.TTYInfo{}}, false, "tty_info"},
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
	// What the agents do honour still runs: a MESOS container with a
	// hostname.
	f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
		res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
		ti := sdk.CommandTask("plain", "plain", o, "true", res)
		ti.Container = &mesospb.ContainerInfo{Type: mesos, Hostname: proto.String("plain")}
		return ti
	}
	st := f.expect(t, "plain", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("a MESOS container with a hostname: %s", sdk.Describe(st))
	}
}
