package history

import (
	"fmt"
	"sort"
)

// Mkdir is the Detail of a Write that only made an empty parent znode:
// structure any master may make, holding nothing a successor could lose.
const Mkdir = "mkdir"

// checkFencing replays ZooKeeper's log in its own order (zxids, exact,
// unlike clocks): who led, who held the fence, and every registry write.
// A write must carry the current fence, taken by the master that leads
// when ZooKeeper applies it; a fence must be taken by the leader.
func checkFencing(h []Event) []Anomaly {
	var zk []Event
	for _, e := range h {
		switch e.Kind {
		case Contender, Withdrawn, Fence, Write:
			zk = append(zk, e)
		}
	}
	sort.SliceStable(zk, func(i, j int) bool { return zk[i].Zxid < zk[j].Zxid })
	live := map[string]Event{}
	leader := func() (Event, bool) {
		var lowest Event
		found := false
		for p, e := range live {
			if !found || p < lowest.Path {
				lowest, found = e, true
			}
		}
		return lowest, found
	}
	var fence Event // the latest fence taken
	fenced := false
	var out []Anomaly
	for _, e := range zk {
		switch e.Kind {
		case Contender:
			live[e.Path] = e
		case Withdrawn:
			delete(live, e.Path)
		case Fence:
			if l, ok := leader(); !ok || l.Node != e.Node {
				out = append(out, Anomaly{Invariant: Fencing,
					What: fmt.Sprintf("master %s took the registry's fence while %s led", e.Node, describeLeader(l, ok)), Witness: witnesses(l, ok, e)})
			}
			fence, fenced = e, true
		case Write:
			if e.Version < 0 {
				if e.Detail != Mkdir {
					out = append(out, Anomaly{Invariant: Fencing,
						What: fmt.Sprintf("registry write to %s without the fence (%s)", e.Path, e.Detail), Witness: []Event{e}})
				}
				continue
			}
			l, ok := leader()
			switch {
			case !fenced || e.Version != fence.Version:
				out = append(out, Anomaly{Invariant: Fencing,
					What:    fmt.Sprintf("registry write to %s guarded by fence version %d, but the fence is at %d", e.Path, e.Version, fence.Version),
					Witness: witnesses(fence, fenced, e)})
			case !ok || l.Node != fence.Node:
				out = append(out, Anomaly{Invariant: Fencing,
					What:    fmt.Sprintf("registry write to %s by %s, which had lost leadership (%s led)", e.Path, fence.Node, describeLeader(l, ok)),
					Witness: append(witnesses(l, ok, fence), e)})
			}
		}
	}
	return out
}

func describeLeader(l Event, ok bool) string {
	if !ok {
		return "no master"
	}
	return l.Node
}

func witnesses(first Event, ok bool, rest ...Event) []Event {
	if !ok {
		return rest
	}
	return append([]Event{first}, rest...)
}
