package e2e

import (
	"testing"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A restarted agent comes back under its checkpointed ID, and its
// resources are offered again.
func TestRestartedAgentKeepsItsID(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	id := c.Agents[0].ID()
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("restart"))
	f.next(schedulerpb.Event_OFFERS)

	c.StopAgent(0)
	// The agent's stream ended: its outstanding offer is rescinded.
	f.next(schedulerpb.Event_RESCIND)
	a, err := c.RestartAgent(0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() != id {
		t.Fatalf("restarted agent registered as %q, want %q", a.ID(), id)
	}
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetAgentId().GetValue() != id {
		t.Fatalf("offer for agent %q, want %q", o.GetAgentId().GetValue(), id)
	}
}
