package faults

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/test/cluster"
)

// runningFleet starts a fleet of n tasks and waits until all run.
func runningFleet(t *testing.T, c *cluster.Cluster, n int) *cluster.Fleet {
	t.Helper()
	f := c.StartFleet(cluster.FleetOptions{})
	f.Launch(taskIDs("t", n)...)
	c.WaitFor(90*time.Second, "the fleet's tasks running", func() bool { return f.Count("TASK_RUNNING") == n })
	return f
}

// The leader keeps ZooKeeper and its frameworks but loses every agent:
// agents still find it in ZooKeeper and cannot reach it; it finds them
// unreachable. Nothing may be killed, and once the link is back every
// task is running again, each once.
func TestLeaderCutOffFromItsAgents(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 3}))
	f := runningFleet(t, c, 12)
	leader := c.Leader()
	c.Partition([]*cluster.Node{leader}, c.Agents)
	c.WaitFor(30*time.Second, "the leader to report the tasks unreachable", func() bool { return f.Count("TASK_UNREACHABLE") == 12 })
	c.HealNetwork()
	c.WaitFor(60*time.Second, "the tasks to be running again", func() bool { return f.Count("TASK_RUNNING") == 12 })
	if now := c.Leader(); now != leader {
		t.Fatalf("the leader changed from %s to %v though it kept ZooKeeper", leader.Name, now)
	}
	c.Settle(f, 60*time.Second)
	finish(t, c)
}

// The leader keeps its agents and frameworks but loses ZooKeeper: it must
// stop acting as leader before another master is elected (never two
// masters answering as leader), the new leader takes over every task
// without killing any, and the old one, back, follows it.
func TestLeaderCutOffFromZooKeeper(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 3, Agents: 3}))
	f := runningFleet(t, c, 12)
	old := c.Leader()
	c.Partition([]*cluster.Node{old}, c.ZooKeepers)
	var successor *cluster.Node
	c.WaitFor(60*time.Second, "another master to lead", func() bool {
		successor = c.Leader()
		return successor != nil && successor != old
	})
	c.WaitAgents(3, 60*time.Second)
	// The fleet moves to the successor; launches through it work.
	f.Launch(taskIDs("late", 3)...)
	c.WaitFor(60*time.Second, "the late tasks running", func() bool { return f.Count("TASK_RUNNING") == 15 })
	c.HealNetwork()
	c.WaitFor(30*time.Second, "the old leader to be back as a standby", func() bool {
		status, _, err := c.Operator(old, cluster.Call(masterpb.Call_GET_HEALTH))
		return err == nil && status == 307
	})
	if c.Leader() != successor {
		t.Fatalf("leadership moved again after the heal: %v", c.Leader())
	}
	c.Settle(f, 60*time.Second)
	finish(t, c)
}

// The leader's only ZooKeeper server is cut off from the rest of the
// ensemble; the leader still reaches it, its agents and its frameworks.
// That server goes on answering reads for a while (until it gives up on
// its quorum), but the quorum expires the leader's session and elects
// another master. The old leader must stop answering as leader before the
// new one starts: confirmations served by a server without its quorum
// prove nothing.
func TestLeadersZooKeeperServerCutOffFromTheQuorum(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 2,
		MasterZooKeepers: map[int][]int{0: {0}}}))
	pinned, other := c.Masters[0], c.Masters[1]
	if c.Leader() != pinned {
		c.Kill9(other)
		c.WaitFor(60*time.Second, "the pinned master to lead", func() bool { return c.Leader() == pinned })
		c.Restart(other)
	}
	f := runningFleet(t, c, 6)
	c.Partition(c.ZooKeepers[:1], c.ZooKeepers[1:])
	c.WaitFor(60*time.Second, "the other master to lead", func() bool { return c.Leader() == other })
	c.WaitAgents(2, 60*time.Second)
	c.HealNetwork()
	c.Settle(f, 60*time.Second)
	finish(t, c)
}
