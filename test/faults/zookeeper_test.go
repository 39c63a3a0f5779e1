package faults

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
)

// ZooKeeper loses its quorum in the middle of a burst of launches: the
// leader must stop, no master may lead without a quorum, and once the
// quorum is back every task is either running once or known never to
// have started; none is killed, none runs twice.
func TestZooKeeperQuorumLossDuringABurstOfLaunches(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 3}))
	f := runningFleet(t, c, 6)
	burst := taskIDs("burst", 40)
	f.Launch(burst...)
	// Lose the quorum while the burst is being placed.
	c.WaitFor(30*time.Second, "the burst to start", func() bool { return f.Count("TASK_RUNNING") > 6 || f.Pending() < len(burst) })
	c.Kill9(c.ZooKeepers[0])
	c.Kill9(c.ZooKeepers[1])
	c.WaitFor(30*time.Second, "the leader to step down", func() bool { return c.Leader() == nil })
	// Launches queued while no master leads wait for the next leader.
	f.Launch(taskIDs("during", 5)...)
	c.Restart(c.ZooKeepers[0])
	c.Restart(c.ZooKeepers[1])
	c.WaitZooKeeper(c.ZooKeepers...)
	c.WaitFor(60*time.Second, "a leader again", func() bool { return c.Leader() != nil })
	c.WaitAgents(3, 60*time.Second)
	c.WaitFor(60*time.Second, "every queued task launched", func() bool { return f.Pending() == 0 })
	c.Settle(f, 90*time.Second)
	finish(t, c)
}
