package statusupdate

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func status(id string, state mesospb.TaskState, uuid byte) *mesospb.TaskStatus {
	return &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(id)}, State: state.Enum(), Uuid: []byte{uuid}}
}

func TestInOrderWithRetries(t *testing.T) {
	now := time.Unix(1000, 0)
	m := New(time.Second, 4*time.Second)
	k := Key{"fw", "t1"}
	if !m.Add(k, status("t1", mesospb.TaskState_TASK_STARTING, 1)) {
		t.Fatal("the first update should be sent at once")
	}
	if m.Add(k, status("t1", mesospb.TaskState_TASK_RUNNING, 2)) {
		t.Fatal("a second update must wait for the first's ack")
	}
	due := m.Due(now)
	if len(due) != 1 || due[0].Status.GetUuid()[0] != 1 || due[0].LatestState != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("due = %+v, want the STARTING update with latest state RUNNING", due)
	}
	if len(m.Due(now.Add(999*time.Millisecond))) != 0 {
		t.Fatal("re-sent before the backoff")
	}
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		next, ok := m.NextDue()
		if !ok || next.Sub(now) != wait {
			t.Fatalf("retry %d due after %v, want %v", i, next.Sub(now), wait)
		}
		now = next
		if len(m.Due(now)) != 1 {
			t.Fatalf("retry %d not due", i)
		}
	}
	if matched, _ := m.Ack(k, []byte{2}); matched {
		t.Fatal("an ack for an update that is not the head matched")
	}
	if matched, terminal := m.Ack(k, []byte{1}); !matched || terminal {
		t.Fatalf("ack = %v, %v", matched, terminal)
	}
	if due := m.Due(now); len(due) != 1 || due[0].Status.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("after the ack, due = %+v, want RUNNING", due)
	}
	m.Add(k, status("t1", mesospb.TaskState_TASK_FINISHED, 3))
	m.Ack(k, []byte{2})
	if _, terminal := m.Ack(k, []byte{3}); !terminal || m.Has(k) || m.Pending() != 0 {
		t.Fatal("the terminal ack should end the task's stream")
	}
}

func TestResendAll(t *testing.T) {
	now := time.Unix(1000, 0)
	m := New(time.Minute, time.Hour)
	for _, id := range []string{"a", "b"} {
		m.Add(Key{"fw", id}, status(id, mesospb.TaskState_TASK_RUNNING, 1))
	}
	if len(m.Due(now)) != 2 || len(m.Due(now)) != 0 {
		t.Fatal("want two heads due once")
	}
	m.ResendAll()
	if len(m.Due(now)) != 2 {
		t.Fatal("ResendAll should make every head due")
	}
}

// Heads come due in the order of their backoff, whatever the tasks, and
// acks, removals and ResendAll keep the order right.
func TestDueOrderAcrossTasks(t *testing.T) {
	now := time.Unix(1000, 0)
	m := New(time.Second, time.Minute)
	keys := []Key{{"fw", "a"}, {"fw", "b"}, {"fw", "c"}}
	for _, k := range keys {
		m.Add(k, status(k.TaskID, mesospb.TaskState_TASK_RUNNING, 1))
	}
	if got := len(m.Due(now)); got != 3 {
		t.Fatalf("%d due, want 3", got)
	}
	// b is acknowledged and gets a second update: due at once, the
	// others after their backoff.
	m.Add(keys[1], status("b", mesospb.TaskState_TASK_FINISHED, 2))
	m.Ack(keys[1], []byte{1})
	if due := m.Due(now); len(due) != 1 || due[0].Key != keys[1] {
		t.Fatalf("due %+v, want b's next update", due)
	}
	m.Remove(keys[0])
	if next, ok := m.NextDue(); !ok || !next.Equal(now.Add(time.Second)) {
		t.Fatalf("next due %v, %v", next, ok)
	}
	due := m.Due(now.Add(time.Second))
	if len(due) != 2 || m.Has(keys[0]) {
		t.Fatalf("after a's removal, due %+v", due)
	}
	m.ResendAll()
	if got := len(m.Due(now.Add(time.Second))); got != 2 {
		t.Fatalf("after ResendAll %d due, want 2", got)
	}
	for _, k := range keys[1:] {
		u := m.Queued(k)[0]
		m.Ack(k, u.GetUuid())
	}
	if _, ok := m.NextDue(); ok || m.Pending() != 0 {
		t.Fatal("everything acknowledged, yet something is due")
	}
}

func BenchmarkBurst(b *testing.B) {
	// A launch of 2,000 tasks: each STARTING update is added and sent,
	// as the agent does, asking Due and NextDue every time.
	now := time.Unix(1000, 0)
	for b.Loop() {
		m := New(10*time.Second, time.Minute)
		for i := range 2000 {
			k := Key{"fw", string(rune('a'+i%26)) + string(rune(i))}
			m.Add(k, status(k.TaskID, mesospb.TaskState_TASK_STARTING, 1))
			m.Due(now)
			m.NextDue()
		}
	}
}
