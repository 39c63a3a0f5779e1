package faults

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/test/cluster"
)

// A standby master whose wall clock runs an hour ahead (the fault clock
// seam: Linux cannot give one namespace its own wall clock) takes over
// while a framework is disconnected with ten minutes of failover timeout
// left. The deadline the old leader wrote looks fifty minutes past to it;
// tearing the framework down for that would kill its tasks because of a
// failover. The framework comes back and finds every task running.
func TestMasterWithItsClockAnHourAheadTakesOver(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 2,
		MasterEnv: map[int][]string{1: {"CORRAL_FAULT_CLOCK_OFFSET=1h"}}}))
	normal, ahead := c.Masters[0], c.Masters[1]
	if c.Leader() != normal {
		c.Kill9(ahead)
		c.WaitFor(60*time.Second, "the master with the right time to lead", func() bool { return c.Leader() == normal })
		c.Restart(ahead)
	}
	f := c.StartFleet(cluster.FleetOptions{FailoverTimeout: 600})
	f.Launch(taskIDs("t", 10)...)
	c.WaitFor(90*time.Second, "the fleet's tasks running", func() bool { return f.Count("TASK_RUNNING") == 10 })

	f.Stop()
	c.WaitFor(30*time.Second, "the leader to see the framework gone", func() bool {
		resp, err := c.LeaderCall(5*time.Second, cluster.Call(masterpb.Call_GET_FRAMEWORKS))
		if err != nil {
			return false
		}
		for _, fw := range resp.GetGetFrameworks().GetFrameworks() {
			if fw.GetFrameworkInfo().GetId().GetValue() == f.ID() {
				return !fw.GetConnected()
			}
		}
		return false
	})
	c.Kill9(normal)
	c.WaitFor(60*time.Second, "the master an hour ahead to lead", func() bool { return c.Leader() == ahead })
	c.Restart(normal)
	c.WaitAgents(2, 60*time.Second)
	f.Start()
	c.Settle(f, 60*time.Second)
	finish(t, c)
}
