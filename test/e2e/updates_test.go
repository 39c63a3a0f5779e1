package e2e

import (
	"bytes"
	"testing"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Status updates are delivered at least once and in order: until the
// framework acknowledges TASK_STARTING the agent re-sends it and holds
// back TASK_RUNNING.
func TestUnacknowledgedUpdatesAreResentInOrder(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1}) // agents re-send after 1s
	f := subscribeRaw(t, c.MasterURL, codec.Protobuf, "application/x-protobuf", frameworkInfo("noack"))
	o := f.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	f.launch(o, 0, shellTask("patient", o, "sleep 600", "cpus:0.1;mem:16"))

	first := f.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if first.GetState() != mesospb.TaskState_TASK_STARTING || len(first.GetUuid()) != 16 {
		t.Fatalf("first update = %v, want TASK_STARTING with a uuid", first)
	}
	again := f.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if again.GetState() != mesospb.TaskState_TASK_STARTING || !bytes.Equal(again.GetUuid(), first.GetUuid()) {
		t.Fatalf("without an ack the next update is %v, want TASK_STARTING re-sent with the same uuid", again)
	}
	f.ack(first)
	for {
		st := f.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		if bytes.Equal(st.GetUuid(), first.GetUuid()) {
			continue // a re-send already under way when the ack arrived
		}
		if st.GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Fatalf("after the ack got %v, want TASK_RUNNING", st)
		}
		break
	}
}
