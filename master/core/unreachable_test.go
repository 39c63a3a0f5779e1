package core

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func TestUnreachableRecordsAreBoundedOldestFirst(t *testing.T) {
	rec := func(id string) *task {
		return &task{info: &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String(id)}}}
	}
	ids := func(u *unreachableTasks) []string {
		var out []string
		for _, t := range u.all() {
			out = append(out, t.info.GetTaskId().GetValue())
		}
		return out
	}
	var u unreachableTasks
	for _, id := range []string{"a", "b", "c"} {
		if evicted := u.add(rec(id), 3); evicted != nil {
			t.Fatalf("adding %s within the bound evicted %s", id, evicted.info.GetTaskId().GetValue())
		}
	}
	// The same task again moves to the back; it is not a second record.
	again := rec("a")
	u.add(again, 3)
	if got := ids(&u); !slices.Equal(got, []string{"b", "c", "a"}) || u.get("a") != again {
		t.Fatalf("after re-adding a: %v", got)
	}
	if evicted := u.add(rec("d"), 3); evicted == nil || evicted.info.GetTaskId().GetValue() != "b" {
		t.Fatalf("the fourth record evicted %v, want b, the oldest", evicted)
	}
	u.remove("c")
	u.remove("nope")
	if got := ids(&u); !slices.Equal(got, []string{"a", "d"}) || u.len() != 2 || u.get("c") != nil {
		t.Fatalf("after removing c: %v", got)
	}
}
