package history

import (
	"fmt"
	"sort"
)

// term is one master's time as ZooKeeper's leader: its contender znode
// was the lowest from start.
type term struct {
	index int
	node  string
	start Event // the event that made it the leader
}

// terms replays the election znodes in ZooKeeper's order and returns the
// leaders in turn.
func terms(h []Event) []term {
	var zk []Event
	for _, e := range h {
		if e.Kind == Contender || e.Kind == Withdrawn {
			zk = append(zk, e)
		}
	}
	sort.SliceStable(zk, func(i, j int) bool { return zk[i].Zxid < zk[j].Zxid })
	live := map[string]Event{}
	var out []term
	leader := ""
	for _, e := range zk {
		if e.Kind == Contender {
			live[e.Path] = e
		} else {
			delete(live, e.Path)
		}
		lowest := ""
		for p := range live {
			if lowest == "" || p < lowest {
				lowest = p
			}
		}
		if lowest != leader && lowest != "" {
			out = append(out, term{index: len(out) + 1, node: live[lowest].Node, start: e})
		}
		leader = lowest
	}
	return out
}

// checkSingleLeader: a master that answered as leader (200) must not do
// so again in the same term once a master elected after it has answered:
// the older one had to stop acting before the newer one could be elected.
// The order is proven by the observer's clock alone (the newer answer
// came back before the older one's request was sent); ZooKeeper's log
// only says which term each answer belongs to.
func checkSingleLeader(h []Event) []Anomaly {
	ts := terms(h)
	if len(ts) == 0 {
		return nil // no election recorded: nothing to compare against
	}
	termOf := func(a Event) int {
		best := 0
		for _, t := range ts {
			if t.node == a.Node && !t.start.Time.After(a.Time) {
				best = t.index
			}
		}
		return best
	}
	type answer struct {
		e    Event
		term int
	}
	var answers []answer
	var out []Anomaly
	for _, e := range h {
		if e.Kind != Answer || e.Status != 200 {
			continue
		}
		a := answer{e, termOf(e)}
		if a.term == 0 {
			out = append(out, Anomaly{Invariant: SingleLeader,
				What: fmt.Sprintf("master %s answered as leader, but ZooKeeper had not elected it", e.Node), Witness: []Event{e}})
			continue
		}
		answers = append(answers, a)
	}
	bySent := append([]answer(nil), answers...)
	sort.SliceStable(bySent, func(i, j int) bool { return bySent[i].e.Sent.Before(bySent[j].e.Sent) })
	byRecv := append([]answer(nil), answers...)
	sort.SliceStable(byRecv, func(i, j int) bool { return byRecv[i].e.Time.Before(byRecv[j].e.Time) })
	var newest *answer // the answer of the latest term received so far
	reported := map[int]bool{}
	j := 0
	for _, a := range bySent {
		for ; j < len(byRecv) && byRecv[j].e.Time.Before(a.e.Sent); j++ {
			if newest == nil || byRecv[j].term > newest.term {
				newest = &byRecv[j]
			}
		}
		if newest != nil && newest.term > a.term && !reported[a.term] {
			reported[a.term] = true
			out = append(out, Anomaly{Invariant: SingleLeader,
				What: fmt.Sprintf("master %s still answered as leader of term %d after %s, leader of term %d, had answered",
					a.e.Node, a.term, newest.e.Node, newest.term),
				Witness: []Event{newest.e, a.e}})
		}
	}
	return out
}
