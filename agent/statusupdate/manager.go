// Package statusupdate keeps an agent's task status updates until the
// framework acknowledges them: at-least-once delivery, in order per task.
//
// For every task there is a queue; only its head is in flight. The head is
// sent, and sent again with exponential backoff, until an acknowledgement
// with its uuid arrives; then the next update of that task goes out. The
// Manager is not safe for concurrent use: it belongs to the agent's loop,
// which asks it what to send (Due) and when to ask again (NextDue).
//
// The heads wait in a heap ordered by when they are next due, so that Due
// and NextDue cost what is due, not every task in flight: a launch of
// thousands of tasks on one agent asks both once per update.
package statusupdate

import (
	"bytes"
	"container/heap"
	"time"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Key names a task's update stream.
type Key struct{ FrameworkID, TaskID string }

// Update is one status update of a task.
type Update struct {
	Key    Key
	Status *mesospb.TaskStatus // uuid set
	// LatestState is the task's newest state when this update was sent,
	// which may be ahead of Status while earlier updates wait for acks.
	LatestState mesospb.TaskState

	attempts int
	due      time.Time // next (re)send; zero: send now
}

type queue struct {
	updates []*Update
	latest  mesospb.TaskState
	index   int // in the heap
}

// heads is a min-heap of queues by their head's due time.
type heads []*queue

func (h heads) Len() int           { return len(h) }
func (h heads) Less(i, j int) bool { return h[i].updates[0].due.Before(h[j].updates[0].due) }
func (h heads) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *heads) Push(x any) {
	q := x.(*queue)
	q.index = len(*h)
	*h = append(*h, q)
}
func (h *heads) Pop() any {
	old := *h
	q := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	q.index = -1
	return q
}

// Manager holds unacknowledged updates.
type Manager struct {
	queues     map[Key]*queue
	heads      heads
	first, max time.Duration
}

// New returns a Manager that re-sends after first, doubling up to max.
func New(first, max time.Duration) *Manager {
	if first <= 0 {
		first = 10 * time.Second
	}
	if max < first {
		max = first
	}
	return &Manager{queues: make(map[Key]*queue), first: first, max: max}
}

// Add queues st for the task. It returns true if it became the head and
// should be sent now.
func (m *Manager) Add(k Key, st *mesospb.TaskStatus) bool {
	q := m.queues[k]
	if q == nil {
		q = &queue{}
		m.queues[k] = q
	}
	q.latest = st.GetState()
	q.updates = append(q.updates, &Update{Key: k, Status: st})
	if len(q.updates) == 1 {
		heap.Push(&m.heads, q)
		return true
	}
	return false
}

// Ack removes the head of the task's queue if uuid matches it. It reports
// whether it did, and whether the task's stream is now finished: the
// acknowledged update was terminal (nothing after it will come).
func (m *Manager) Ack(k Key, uuid []byte) (matched, terminal bool) {
	q := m.queues[k]
	if q == nil || len(q.updates) == 0 || !bytes.Equal(q.updates[0].Status.GetUuid(), uuid) {
		return false, false
	}
	head := q.updates[0]
	q.updates = q.updates[1:]
	if len(q.updates) == 0 {
		heap.Remove(&m.heads, q.index)
		delete(m.queues, k)
	} else {
		heap.Fix(&m.heads, q.index) // the new head is due now
	}
	return true, mesospb.IsTerminal(head.Status.GetState())
}

// Due returns the heads that should be sent at now and schedules their
// next attempt. The caller sends them (in any order across tasks).
func (m *Manager) Due(now time.Time) []Update {
	var out []Update
	for len(m.heads) > 0 {
		q := m.heads[0]
		h := q.updates[0]
		if h.due.After(now) {
			break
		}
		h.LatestState = q.latest
		backoff := m.first << min(h.attempts, 20)
		if backoff > m.max || backoff <= 0 {
			backoff = m.max
		}
		h.attempts++
		h.due = now.Add(backoff)
		heap.Fix(&m.heads, 0)
		out = append(out, *h)
	}
	return out
}

// NextDue returns when Due will next have something, and false if nothing
// is pending.
func (m *Manager) NextDue() (time.Time, bool) {
	if len(m.heads) == 0 {
		return time.Time{}, false
	}
	return m.heads[0].updates[0].due, true
}

// ResendAll makes every head due now, as after reconnecting to a master.
func (m *Manager) ResendAll() {
	for _, q := range m.heads {
		q.updates[0].due = time.Time{}
	}
	heap.Init(&m.heads)
}

// Pending returns how many updates wait for acknowledgement.
func (m *Manager) Pending() int {
	n := 0
	for _, q := range m.queues {
		n += len(q.updates)
	}
	return n
}

// Queued returns the task's unacknowledged updates, oldest first.
func (m *Manager) Queued(k Key) []*mesospb.TaskStatus {
	q := m.queues[k]
	if q == nil {
		return nil
	}
	out := make([]*mesospb.TaskStatus, len(q.updates))
	for i, u := range q.updates {
		out[i] = u.Status
	}
	return out
}

// Has reports whether the task has unacknowledged updates.
func (m *Manager) Has(k Key) bool { return m.queues[k] != nil }

// Remove forgets a task's updates (its framework is gone).
func (m *Manager) Remove(k Key) {
	if q := m.queues[k]; q != nil {
		heap.Remove(&m.heads, q.index)
		delete(m.queues, k)
	}
}

// Known reports whether an update with this uuid is queued for the task.
func (m *Manager) Known(k Key, uuid []byte) bool {
	q := m.queues[k]
	if q == nil {
		return false
	}
	for _, u := range q.updates {
		if bytes.Equal(u.Status.GetUuid(), uuid) {
			return true
		}
	}
	return false
}
