package core

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// A framework recovered from the registry gets at least as long as agents
// get to come back, at most its failover timeout, whatever the clock of
// the leader that wrote its deadline said.
func TestRecoveredFailoverSurvivesClocksThatDisagree(t *testing.T) {
	m := &Core{cfg: Config{AgentReregisterTimeout: 10 * time.Minute}}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	info := func(timeout time.Duration) *mesospb.FrameworkInfo {
		return &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(timeout.Seconds())}
	}
	for _, c := range []struct {
		name     string
		timeout  time.Duration
		deadline time.Time
		want     time.Duration
	}{
		{"connected when the leader went", time.Hour, time.Time{}, time.Hour},
		{"this clock an hour ahead of the writer's", 10 * time.Minute, now.Add(-50 * time.Minute), 10 * time.Minute},
		{"this clock an hour behind the writer's", 10 * time.Minute, now.Add(70 * time.Minute), 10 * time.Minute},
		{"a long timeout keeps its deadline", 7 * 24 * time.Hour, now.Add(72 * time.Hour), 72 * time.Hour},
		{"a deadline about to pass waits for the agents' window", time.Hour, now.Add(time.Minute), 10 * time.Minute},
		{"a short timeout is never exceeded", 2 * time.Second, now.Add(-time.Hour), 2 * time.Second},
		{"no failover timeout", 0, now, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := m.recoveredFailover(info(c.timeout), c.deadline, now); got != c.want {
				t.Fatalf("%v to re-subscribe, want %v", got, c.want)
			}
		})
	}
}
