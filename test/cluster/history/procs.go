package history

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// procKey names one process: a PID is unique on the machine while the
// process lives, and the sampler reports its start and its end.
func procKey(e Event) string { return fmt.Sprintf("%s/%d", e.Node, e.PID) }

// checkAtMostOne: from the process tables, no identity has two live
// processes at once. A process surely lived from the sample that first
// saw it to the last one that did (Time of its ProcStart, LastSeen of its
// ProcEnd), so two such spans that overlap did overlap.
func checkAtMostOne(h []Event) []Anomaly {
	type span struct {
		start, end Event // end.Seq == 0: still alive at the end
	}
	spans := map[string]map[string]*span{} // identity → process → span
	var identities []string
	for _, e := range h {
		switch e.Kind {
		case ProcStart:
			if spans[e.Task] == nil {
				spans[e.Task] = map[string]*span{}
				identities = append(identities, e.Task)
			}
			spans[e.Task][procKey(e)] = &span{start: e}
		case ProcEnd:
			if sp := spans[e.Task][procKey(e)]; sp != nil {
				sp.end = e
			}
		}
	}
	lastSeen := func(sp *span) (time.Time, bool) {
		if sp.end.Seq == 0 {
			return time.Time{}, false // alive when the history ends
		}
		if sp.end.LastSeen.IsZero() {
			return sp.end.Time, true
		}
		return sp.end.LastSeen, true
	}
	var out []Anomaly
	for _, id := range identities {
		var list []*span
		for _, sp := range spans[id] {
			list = append(list, sp)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].start.Seq < list[j].start.Seq })
		for i, a := range list {
			for _, b := range list[i+1:] {
				// b was first seen after a was; they overlapped if a was
				// still seen alive once b had been.
				end, ended := lastSeen(a)
				if ended && end.Before(b.start.Time) {
					continue
				}
				witness := []Event{a.start, b.start}
				if ended {
					witness = append(witness, a.end)
				}
				out = append(out, Anomaly{Invariant: AtMostOne,
					What:    fmt.Sprintf("%s ran twice at once: pid %d on %s and pid %d on %s", id, a.start.PID, a.start.Node, b.start.PID, b.start.Node),
					Witness: witness})
			}
		}
	}
	return out
}

// checkExplainedEnds: every end is explained. A process that vanished
// from its agent, and a task whose framework heard it end, were killed by
// the framework, died with their machine, or were ended by an operator's
// action (an Expect covering them). Anything else is a task corral killed
// on its own, as a master failing over must never do.
func checkExplainedEnds(h []Event) []Anomaly {
	killed := map[string]bool{}
	crashed := map[string]Event{} // node → its latest crash
	// diedWith reports whether something that began with begin on node
	// was there when the node crashed.
	diedWith := func(node string, begin Event) bool {
		c, ok := crashed[node]
		return ok && begin.Seq != 0 && !begin.Time.After(c.Time)
	}
	var expects []Event
	started := map[string]Event{} // process → its start
	launched := map[string]Event{}
	seenAlive := map[string]bool{} // tasks that had a process, or were heard running
	var out []Anomaly
	for _, e := range h {
		switch e.Kind {
		case Kill:
			killed[e.Task] = true
		case Crash:
			crashed[e.Node] = e
		case Expect:
			expects = append(expects, e)
		case Launch:
			launched[e.Task] = e
		case ProcStart:
			started[procKey(e)] = e
			seenAlive[e.Task] = true
		case ProcEnd:
			start, ok := started[procKey(e)]
			if killed[e.Task] || diedWith(e.Node, start) || expected(expects, e.Task, start.Detail) {
				continue
			}
			witness := []Event{e}
			if ok {
				witness = []Event{start, e}
			}
			out = append(out, Anomaly{Invariant: ExplainedEnds,
				What:    fmt.Sprintf("process %d of %s on %s ended, and neither its framework, a crash nor an operator ended it", e.PID, e.Task, e.Node),
				Witness: witness})
		case Update:
			if alive(e.State) {
				seenAlive[e.Task] = true
			}
			// A task that never ran and ends (a launch lost in a failover,
			// or never made) was not killed.
			if !terminal(e.State) || e.State == "TASK_FINISHED" || !seenAlive[e.Task] {
				continue
			}
			l := launched[e.Task]
			node := e.Node
			if node == "" {
				node = l.Node
			}
			if killed[e.Task] || diedWith(node, l) || expected(expects, e.Task, "") {
				continue
			}
			out = append(out, Anomaly{Invariant: ExplainedEnds,
				What:    fmt.Sprintf("task %s was reported %s (%s) though nothing ended it", e.Task, e.State, e.Detail),
				Witness: []Event{e}})
			killed[e.Task] = true // once per task
		}
	}
	return out
}

func expected(expects []Event, identity, cmdline string) bool {
	for _, x := range expects {
		if strings.HasPrefix(identity, x.Task) && (x.Source == "" || cmdline == "" || strings.Contains(cmdline, x.Source)) {
			return true
		}
	}
	return false
}
