package kit

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func task(id string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String(id)}}
}

func TestInFlightHoldsATaskUntilEveryAddIsDone(t *testing.T) {
	var s InFlight
	if s.Has("a") {
		t.Fatal("an empty set has a task")
	}
	s.Add([]*mesospb.TaskInfo{task("a"), task("b")}, nil)
	s.Add([]*mesospb.TaskInfo{task("a")})
	s.Done([]*mesospb.TaskInfo{task("a"), task("b")})
	if !s.Has("a") || s.Has("b") {
		t.Fatalf("after one of a's two launches is done: a %v, b %v; want a only", s.Has("a"), s.Has("b"))
	}
	s.Done([]*mesospb.TaskInfo{task("a")})
	if s.Has("a") || len(s.ids) != 0 {
		t.Fatalf("every launch done, yet %v remain", s.ids)
	}
}

func TestLaunchedTasksAreTheLaunchOperationsTasks(t *testing.T) {
	ops := []*mesospb.Offer_Operation{
		{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{}},
		{Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{task("x"), task("y")}}},
	}
	got := LaunchedTasks(ops)
	if len(got) != 2 || got[0].GetTaskId().GetValue() != "x" || got[1].GetTaskId().GetValue() != "y" {
		t.Fatalf("launched %v, want x and y", got)
	}
}
