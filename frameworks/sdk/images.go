package sdk

import (
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// WithImage makes ti run in a root file system made from the Docker/OCI
// image name ("registry:5000/repo:tag" or "...@sha256:..."), as Mesos'
// ContainerInfo.mesos.image asks: the agent pulls it (looking the name up
// again when fresh, Image.cached: false) and combines its Entrypoint, Cmd,
// Env, WorkingDir and User with the task's command by Mesos' rules. A task
// whose command is empty (no value, no arguments) runs the image's own
// Entrypoint and Cmd. The rest of ti's ContainerInfo (hostname, volumes,
// networks) is kept.
func WithImage(ti *mesospb.TaskInfo, name string, fresh bool) {
	if c := ti.Command; c == nil {
		ti.Command = &mesospb.CommandInfo{Shell: proto.Bool(false)}
	} else if c.GetValue() == "" && len(c.GetArguments()) == 0 {
		c.Shell, c.Value = proto.Bool(false), nil
	}
	if ti.Container == nil {
		ti.Container = &mesospb.ContainerInfo{}
	}
	ti.Container.Type = mesospb.ContainerInfo_MESOS.Enum()
	img := &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(name)}}
	if fresh {
		img.Cached = proto.Bool(false)
	}
	ti.Container.Mesos = &mesospb.ContainerInfo_MesosInfo{Image: img}
}
