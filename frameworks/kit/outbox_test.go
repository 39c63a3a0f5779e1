package kit

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func status(task string, uuid bool) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(task)}}
	if uuid {
		st.Uuid = []byte(task)
	}
	return st
}

func taskIDs(sts []*mesospb.TaskStatus) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.GetTaskId().GetValue())
	}
	return out
}

// What a failed flush covered goes back in front of what came since, in
// order, and is sent after the next flush that works.
func TestFlushBeforeSendingKeepsWhatAFailedFlushCovered(t *testing.T) {
	ctx := context.Background()
	st := &journal{Store: openLocal(t)}
	var mu sync.Mutex
	d := NewDurable(st, &mu, DurableOptions{Name: "test"})
	log := slog.New(slog.DiscardHandler)
	var o Outbox[string]

	mu.Lock()
	o.Ack(status("t1", true))
	o.Ack(status("reconciled", false)) // no uuid: nothing to acknowledge
	o.Kill("k1")
	d.Put("x", []byte("1"))
	taken := o.Take()
	o.Ack(status("t2", true)) // arrives while the tick writes
	mu.Unlock()
	if got := taskIDs(taken.Acks); !slices.Equal(got, []string{"t1"}) {
		t.Fatalf("taken acks %v, want [t1]", got)
	}

	st.fail(true)
	undone := false
	if FlushBeforeSending(ctx, d, &o, taken, log, func() { undone = !mu.TryLock() }) {
		t.Fatal("a failed flush reported success")
	}
	if !undone {
		t.Error("undo did not run with the lock held")
	}
	st.fail(false)
	mu.Lock()
	taken = o.Take()
	mu.Unlock()
	if got := taskIDs(taken.Acks); !slices.Equal(got, []string{"t1", "t2"}) {
		t.Errorf("acks after a failed flush %v, want [t1 t2]", got)
	}
	if !slices.Equal(taken.Kills, []string{"k1"}) {
		t.Errorf("kills after a failed flush %v, want [k1]", taken.Kills)
	}
	if !FlushBeforeSending(ctx, d, &o, taken, log, nil) {
		t.Fatal("flush failed with the store up")
	}
}

func TestRecordLaunchesForgetsWhatCouldNotBeWritten(t *testing.T) {
	ctx := context.Background()
	st := &journal{Store: openLocal(t)}
	var mu sync.Mutex
	d := NewDurable(st, &mu, DurableOptions{Name: "test"})
	log := slog.New(slog.DiscardHandler)
	task := func(id string) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String(id)}}
	}
	launches := [][]*mesospb.TaskInfo{{task("a"), task("b")}, nil, {task("c")}}

	var forgotten []string
	forget := func(id string) {
		if mu.TryLock() {
			mu.Unlock()
			t.Error("forget called without the lock")
		}
		forgotten = append(forgotten, id)
	}
	d.Put("x", []byte("1"))
	if got := RecordLaunches(ctx, d, log, launches, forget); len(got) != 3 || len(got[0]) != 2 || len(forgotten) != 0 {
		t.Errorf("written: launches %v, forgotten %v", got, forgotten)
	}
	st.fail(true)
	d.Put("y", []byte("1"))
	got := RecordLaunches(ctx, d, log, launches, forget)
	if len(got) != 3 || slices.ContainsFunc(got, func(ts []*mesospb.TaskInfo) bool { return len(ts) > 0 }) {
		t.Errorf("not written: launches %v, want none for each of 3 offers", got)
	}
	if !slices.Equal(forgotten, []string{"a", "b", "c"}) {
		t.Errorf("forgotten %v, want [a b c]", forgotten)
	}
}
