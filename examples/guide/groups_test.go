package guide_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/examples/guide"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// A pod of two tasks under the default executor and a task under the
// custom executor of examples/executor, all from one offer, all finish.
func TestPodAndCustomExecutor(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building examples/executor: %v\n%s", err, out)
	}
	c := sdktest.Start(t, sdktest.Options{})
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("pods")}
	want := []string{"pod-1.web", "pod-1.sidecar", "custom-1"}
	runScheduler(t, c, info, func(s *sdk.Scheduler, done func()) sdk.HandlerFunc {
		launched, finished := false, map[string]bool{}
		return func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				space := sdk.NewSpace(o)
				pod, ok := guide.Pod(space, "pod-1", map[string]string{"web": "true", "sidecar": "true"})
				res, ok2 := space.Take(0.1, 16, 0, 0)
				exRes, ok3 := space.Take(0.1, 32, 0, 0)
				if launched || !ok || !ok2 || !ok3 {
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 300); err != nil {
						return err
					}
					continue
				}
				launched = true
				task := guide.WithExecutor(sdk.CommandTask("custom", "custom-1", o, "", res), "ex-1", "file://"+bin, exRes, []byte("echo hi"))
				if err := s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{pod, sdk.LaunchOperation(task)}, 300); err != nil {
					return err
				}
			}
			if st := ev.GetUpdate().GetStatus(); st.GetState() == mesospb.TaskState_TASK_FINISHED {
				finished[st.GetTaskId().GetValue()] = true
				if len(finished) == len(want) {
					done()
				}
			}
			return nil
		}
	})
	id := c.FrameworkID("pods")
	for _, task := range want {
		if s, _ := c.LastState(id, task); s != mesospb.TaskState_TASK_FINISHED {
			t.Errorf("%s ended %v, want TASK_FINISHED", task, s)
		}
	}
}
