package agent

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/proto/mesospb"
)

// groupNetwork is a task group's own network, when its executor's
// ContainerInfo names CNI networks: the isolators make it for the group
// before its first task (no pause container: a namespace bind-mounted by
// the agent), every task joins it, and it ends once the group's last
// container is gone.
type groupNetwork struct {
	a    *Agent
	id   string // the group's container ID
	info *mesospb.ContainerInfo

	once  sync.Once
	netns string // set by once
	err   error  // set by once
	// left counts the group's tasks whose container has not yet ended
	// (or failed to start).
	left atomic.Int32
}

func newGroupNetwork(a *Agent, id string, info *mesospb.ContainerInfo, tasks int) *groupNetwork {
	n := &groupNetwork{a: a, id: id, info: info}
	n.left.Store(int32(tasks))
	return n
}

// prepare makes the group's network, once, off the loop; it returns the
// namespace its tasks join, "" when the group has none of its own.
func (n *groupNetwork) prepare() (string, error) {
	n.once.Do(func() {
		n.netns, n.err = n.a.containers.PrepareGroup(context.Background(), n.id, n.info)
	})
	return n.netns, n.err
}

// started follows one task's container until it is gone: the group's
// network ends with the last.
func (n *groupNetwork) started(p *containerizer.Process, _ error) {
	if p == nil {
		n.taskDone()
		return
	}
	go func() {
		<-p.Done()
		n.taskDone()
	}()
}

func (n *groupNetwork) taskDone() {
	if n.left.Add(-1) != 0 {
		return
	}
	// Every task has passed prepare by now, or never will.
	if netns, err := n.netns, n.err; netns != "" && err == nil {
		go n.a.containers.CleanupGroup(context.Background(), n.id, n.info)
	}
}
