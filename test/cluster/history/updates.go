package history

import "fmt"

// rank orders a task's states: an update may stay or move up, never down,
// once the one above it was acknowledged. TASK_UNREACHABLE ranks with
// TASK_RUNNING: a partition-aware framework sees a task go unreachable and
// come back.
func rank(state string) int {
	switch state {
	case "TASK_STAGING":
		return 1
	case "TASK_STARTING":
		return 2
	case "TASK_RUNNING", "TASK_UNREACHABLE", "TASK_KILLING":
		return 3
	}
	if terminal(state) {
		return 4
	}
	return 0 // TASK_UNKNOWN and anything else: the cluster does not know
}

// checkAckedUpdates: per task, after the framework's acknowledgement of a
// state, no update goes back below it (reordered, or the acknowledged one
// lost through a failover); after an acknowledged end, only that end is
// ever reported again (or the master's word that it forgot the task).
func checkAckedUpdates(h []Event) []Anomaly {
	acked := map[string]Event{}
	var out []Anomaly
	for _, e := range h {
		switch e.Kind {
		case Ack:
			if prev, ok := acked[e.Task]; !ok || rank(e.State) >= rank(prev.State) {
				acked[e.Task] = e
			}
		case Update:
			ack, ok := acked[e.Task]
			if !ok {
				continue
			}
			var what string
			switch {
			case terminal(ack.State) && e.State != ack.State && !forgotten(e):
				what = fmt.Sprintf("task %s was reported %s after its acknowledged %s", e.Task, e.State, ack.State)
			case !terminal(ack.State) && rank(e.State) < rank(ack.State):
				what = fmt.Sprintf("task %s went back to %s after its acknowledged %s", e.Task, e.State, ack.State)
			}
			if what != "" {
				out = append(out, Anomaly{Invariant: AckedUpdates, What: what, Witness: []Event{ack, e}})
				// One report per acknowledged state is enough.
				delete(acked, e.Task)
			}
		}
	}
	return out
}
