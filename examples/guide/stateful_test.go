package guide_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/examples/guide"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// The stateful task fails until it finds, on its volume, the line an
// earlier launch wrote: its second launch succeeds on the reservation and
// volume the first made.
func TestStatefulTaskFindsItsData(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{})
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("db"), Roles: []string{"db"},
		Capabilities: []*mesospb.FrameworkInfo_Capability{
			{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
			{Type: mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT.Enum()},
		}}
	runScheduler(t, c, info, func(s *sdk.Scheduler, done func()) sdk.HandlerFunc {
		db := &guide.Stateful{Sched: s, Role: "db", Cmd: `echo ran >> data/log; [ "$(wc -l < data/log)" -ge 2 ]`}
		return func(ctx context.Context, ev *schedulerpb.Event) error {
			if ev.GetType() == schedulerpb.Event_OFFERS {
				return db.Offers(ctx, ev.GetOffers().GetOffers())
			}
			if st := ev.GetUpdate().GetStatus(); sdk.Terminal(st.GetState()) {
				db.Running = false
				if st.GetState() == mesospb.TaskState_TASK_FINISHED {
					done()
				}
			}
			return nil
		}
	})
	id := c.FrameworkID("db")
	first, _ := c.LastState(id, "db.1")
	second, _ := c.LastState(id, "db.2")
	if first != mesospb.TaskState_TASK_FAILED || second != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("db.1 %v, db.2 %v: want the first to fail on an empty volume and the second to find its line", first, second)
	}
	if n := len(c.Calls(id, schedulerpb.Call_ACCEPT)); n != 2 {
		t.Fatalf("%d ACCEPT calls, want 2", n)
	}
}
