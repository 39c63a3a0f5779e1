package sdk_test

import (
	"testing"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/resources"
)

// Reserve, Volume and Labeled write what the master's conversions accept
// and read back what offers carry.
func TestReservationHelpers(t *testing.T) {
	res := resources.Resources{resources.Scalar("cpus", 1), resources.Scalar("disk", 64)}
	reserved := sdk.Reserve(res, "db", "alice", map[string]string{"app": "db", "ordinal": "0"})
	c, err := resources.Reserve(reserved)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Consumed.Unallocate().Equal(res) {
		t.Fatalf("RESERVE takes %s from the agent, want %s", c.Consumed, res)
	}
	if got := resources.ReservedRole(reserved[0]); got != "db" {
		t.Fatalf("reserved for %q, want db", got)
	}
	if res[0].GetReservations() != nil {
		t.Fatal("Reserve modified its argument")
	}
	volume := sdk.Volume(reserved[1], "db-0", "data", "alice")
	if _, err := resources.Create(resources.Resources{volume}); err != nil {
		t.Fatal(err)
	}
	if _, err := resources.Create(resources.Resources{sdk.Volume(res[1], "x", "data", "")}); err == nil {
		t.Fatal("a volume on unreserved disk was accepted")
	}
	offered := append(resources.Resources{resources.Scalar("mem", 128), reserved[0]}, volume)
	if got := sdk.Labeled(offered, "app", "db"); len(got) != 2 || !resources.IsVolume(got[1]) {
		t.Fatalf("Labeled found %s, want the reserved cpus and the volume", got)
	}
	if got := sdk.Labeled(offered, "app", "web"); len(got) != 0 {
		t.Fatalf("Labeled found %s for another label", got)
	}
}
