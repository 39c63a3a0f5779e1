package history

import "fmt"

// Unsettled says why a task's final state is not one every part of the
// cluster agrees on, or "" when it is: the framework's last word is
// TASK_RUNNING, the master's too and one process runs; or it is an end,
// the master says the same (or forgot the task, or says it no longer
// knows it) and no process runs; or the framework never heard of it
// (TASK_UNKNOWN), and neither did the master nor any agent.
func Unsettled(task, framework, master string, procs int) string {
	switch {
	case framework == "TASK_RUNNING":
		if master == "" {
			return fmt.Sprintf("%s is TASK_RUNNING to its framework, but the master does not know it", task)
		}
		if master != framework {
			return fmt.Sprintf("%s is TASK_RUNNING to its framework but %s to the master", task, master)
		}
		if procs != 1 {
			return fmt.Sprintf("%s is running, with %d processes", task, procs)
		}
	case terminal(framework):
		if procs != 0 {
			return fmt.Sprintf("%s ended (%s), but %d of its processes live on", task, framework, procs)
		}
		// TASK_GONE and TASK_UNKNOWN are the master's word that it no
		// longer knows a task, which it may still keep among the completed.
		forgot := framework == "TASK_GONE" || framework == "TASK_UNKNOWN"
		if master != "" && master != framework && !(forgot && terminal(master)) {
			return fmt.Sprintf("%s is %s to its framework but %s to the master", task, framework, master)
		}
	case framework == "TASK_UNKNOWN" && master == "" && procs == 0:
		// Never launched: a launch lost with a failover, which every part
		// of the cluster agrees on.
	default:
		return fmt.Sprintf("%s never settled: its framework last heard %q (the master: %q, %d processes)", task, framework, master, procs)
	}
	return ""
}

// checkConverged: after the faults healed, each task's final state is
// settled (see Unsettled).
func checkConverged(h []Event) []Anomaly {
	var out []Anomaly
	last := map[string]Event{} // each task's last update
	for _, e := range h {
		if e.Kind == Update {
			last[e.Task] = e
		}
		if e.Kind != Final {
			continue
		}
		if what := Unsettled(e.Task, e.State, e.Source, e.PID); what != "" {
			witness := []Event{e}
			if u, ok := last[e.Task]; ok {
				witness = []Event{u, e}
			}
			out = append(out, Anomaly{Invariant: Converged, What: what, Witness: witness})
		}
	}
	return out
}
