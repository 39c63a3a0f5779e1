package history

import (
	"fmt"
	"slices"
	"strings"
)

// Invariant names, as reports print them.
const (
	AckedUpdates  = "acked-updates"
	AtMostOne     = "at-most-one"
	ExplainedEnds = "explained-ends"
	SingleLeader  = "single-leader"
	Fencing       = "fencing"
	Converged     = "converged"
)

// Anomaly is one violation of an invariant.
type Anomaly struct {
	Invariant string
	What      string
	// Witness holds the events that show it, in history order.
	Witness []Event
	// Slice is the shortest stretch of the history that shows it.
	Slice []Event
}

// Report is what Check found.
type Report struct {
	// Operations is how many observed operations were checked (every
	// event but the harness's own faults and notes).
	Operations int
	Anomalies  []Anomaly
}

// OK reports whether no invariant was violated.
func (r Report) OK() bool { return len(r.Anomalies) == 0 }

// String lists the anomalies, each with its slice of the history.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations checked, %d anomalies\n", r.Operations, len(r.Anomalies))
	for i, a := range r.Anomalies {
		fmt.Fprintf(&b, "\nanomaly %d [%s]: %s\n", i+1, a.Invariant, a.What)
		for _, e := range a.Slice {
			if e.Kind == gapKind {
				fmt.Fprintf(&b, "   … %s\n", e.Detail)
				continue
			}
			mark := "   "
			if slices.ContainsFunc(a.Witness, func(w Event) bool { return w.Seq == e.Seq }) {
				mark = " > "
			}
			fmt.Fprintf(&b, "%s%s\n", mark, e)
		}
	}
	return b.String()
}

// Check runs every invariant over the history. Events read from logs
// after the run (Seq 0) are numbered after the recorded ones.
func Check(events []Event) Report {
	h := ordered(numbered(events))
	r := Report{}
	for _, e := range h {
		switch e.Kind {
		case Fault, Heal, Crash, Expect:
		default:
			r.Operations++
		}
	}
	for _, check := range []func([]Event) []Anomaly{
		checkAckedUpdates, checkAtMostOne, checkExplainedEnds, checkSingleLeader, checkFencing, checkConverged,
	} {
		for _, a := range check(h) {
			a.Slice = slice(h, a.Witness)
			r.Anomalies = append(r.Anomalies, a)
		}
	}
	return r
}

func numbered(events []Event) []Event {
	out := append([]Event(nil), events...)
	next := 0
	for _, e := range out {
		next = max(next, e.Seq)
	}
	for i := range out {
		if out[i].Seq == 0 {
			next++
			out[i].Seq = next
		}
	}
	return out
}

// sliceLimit bounds how many events one anomaly prints.
const sliceLimit = 40

// gapKind marks where a long slice was cut.
const gapKind Kind = "…"

// slice returns the events from the first witness to the last that
// concern a witness's task or node, and the harness's faults between them.
func slice(h []Event, witness []Event) []Event {
	if len(witness) == 0 {
		return nil
	}
	first, last := len(h), -1
	tasks, nodes := map[string]bool{}, map[string]bool{}
	for _, w := range witness {
		i := slices.IndexFunc(h, func(e Event) bool { return e.Seq == w.Seq })
		if i < 0 {
			continue
		}
		first, last = min(first, i), max(last, i)
		if w.Task != "" {
			tasks[w.Task] = true
		}
		if w.Node != "" {
			nodes[w.Node] = true
		}
	}
	if last < 0 {
		return witness
	}
	var out []Event
	for _, e := range h[first : last+1] {
		// Events of the witnesses' tasks, and taskless events (elections,
		// answers, registry writes) of their nodes.
		related := e.Task != "" && tasks[e.Task] || e.Task == "" && e.Node != "" && nodes[e.Node]
		switch e.Kind {
		case Fault, Heal, Crash, Expect:
			related = true
		}
		if related || slices.ContainsFunc(witness, func(w Event) bool { return w.Seq == e.Seq }) {
			out = append(out, e)
		}
	}
	if len(out) > sliceLimit {
		// Keep both ends: how it started and how it showed.
		head, tail := out[:sliceLimit/2], out[len(out)-sliceLimit/2:]
		gap := Event{Kind: gapKind, Detail: fmt.Sprintf("%d related events left out", len(out)-sliceLimit)}
		out = append(append(append([]Event(nil), head...), gap), tail...)
	}
	return out
}
