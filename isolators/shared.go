package isolators

import (
	"context"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Statuser adds what an isolator made of a running container to its
// task's status updates, as Mesos' ContainerStatus carries it: the
// container's networks and their addresses (network_infos).
type Statuser interface {
	Status(c *Container, s *mesospb.ContainerStatus)
}

// Grouper makes what the containers of a task group share, before the
// first of them exists, and undoes it once the group has ended: a pod's
// network outlives any one of its tasks, with no pause process to hold it.
//
// The group is described as a Container that never runs: ID is the
// group's own (its executor's container), Info the executor's
// ContainerInfo. PrepareGroup sets g.NetNS when the group's containers
// are to join a network namespace; the containerizer gives each of them
// that NetNS. Containers that still use what the group made keep it until
// they are cleaned up, even after CleanupGroup.
type Grouper interface {
	PrepareGroup(ctx context.Context, g *Container) error
	CleanupGroup(ctx context.Context, g *Container) error
}
