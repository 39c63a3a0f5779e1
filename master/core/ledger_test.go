package core

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

var ledgerSeed = flag.Uint64("ledger-seed", 0, "seed for TestLedgerProperties (0: from the clock)")

// ledgerModel is what the ledger should hold, kept apart from the state:
// each agent's total and the list of what is held on it, by whom.
type ledgerModel struct {
	total map[string]resources.Resources
	holds map[string][]ledgerHold // by agent
}

type ledgerHold struct {
	framework, role string
	res             resources.Resources // allocated form
}

func (lm *ledgerModel) held(id string) resources.Resources {
	var sum resources.Resources
	for _, h := range lm.holds[id] {
		sum = sum.Add(h.res.Unallocate())
	}
	return sum
}

// allocation is what framework fw holds in role, on every agent.
func (lm *ledgerModel) allocation(fw, role string) resources.Resources {
	var sum resources.Resources
	for _, hs := range lm.holds {
		for _, h := range hs {
			if h.framework == fw && h.role == role {
				sum = sum.Add(h.res)
			}
		}
	}
	return sum
}

func mustParse(t *testing.T, text string) resources.Resources {
	t.Helper()
	r, err := resources.Parse(text, "*")
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return r
}

// TestLedgerProperties drives the ledger with random holds, releases,
// total changes, disconnections and allocation rounds, and checks after
// every step that the agents' and the frameworks' books match a model and
// that the sums the allocator measures against match a recomputation from
// every agent.
// Rerun a failure with -ledger-seed.
func TestLedgerProperties(t *testing.T) {
	seed := *ledgerSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -ledger-seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	totals := []resources.Resources{
		mustParse(t, "cpus:4;mem:1024"),
		mustParse(t, "cpus:8;mem:2048;ports:[31000-31009]"),
		mustParse(t, "cpus:2;cpus(web):2;mem:1024;mem(web):512"),
		mustParse(t, "cpus:1;mem:256;disk:100"),
	}
	pieces := []resources.Resources{
		mustParse(t, "cpus:1"),
		mustParse(t, "cpus:0.5;mem:128"),
		mustParse(t, "mem:256"),
		mustParse(t, "cpus(web):1;mem(web):128"),
		mustParse(t, "ports:[31000-31002]"),
		mustParse(t, "ports:[31005-31005];cpus:0.1"),
		mustParse(t, "disk:50"),
	}
	roles := []string{"*", "web", "batch"}

	s := newState()
	lm := &ledgerModel{total: map[string]resources.Resources{}, holds: map[string][]ledgerHold{}}
	frameworks := []*framework{{id: "F0", allocated: map[string]resources.Resources{}}, {id: "F1", allocated: map[string]resources.Resources{}}}
	var ids []string
	for i := range 4 {
		id := fmt.Sprintf("S%d", i)
		ids = append(ids, id)
		a := &agentState{id: id, info: &mesospb.AgentInfo{Hostname: proto.String(id)}, health: agentActive,
			conn: &AgentConn{}, tasks: map[taskKey]*task{}, offers: map[string]*offer{}}
		s.agents[id] = a
		s.setTotal(a, totals[i%len(totals)])
		lm.total[id] = totals[i%len(totals)]
	}
	checkSums(t, s) // the first round

	mutated := map[string]bool{}
	done := map[string]int{} // steps taken by kind, to show the run exercised each
	const steps = 3000
	for step := range steps {
		id := ids[rng.IntN(len(ids))]
		a := s.agents[id]
		var did string
		switch op := rng.IntN(10); {
		case op < 4: // hold what fits, in a role that may use it
			role := roles[rng.IntN(len(roles))]
			piece := pieces[rng.IntN(len(pieces))]
			free := lm.total[id].Subtract(lm.held(id))
			if !free.AllocatableTo(role).Contains(piece) {
				continue
			}
			res := piece.Allocate(role)
			f := frameworks[rng.IntN(len(frameworks))]
			s.allocationPending = false
			s.hold(a, f, role, res)
			if s.allocationPending {
				t.Fatalf("seed %d step %d: hold(%s) asked for a round", seed, step, id)
			}
			lm.holds[id] = append(lm.holds[id], ledgerHold{f.id, role, res})
			did = fmt.Sprintf("hold(%s, %s, %s)", id, f.id, res.Unallocate())
		case op < 7: // release one of the agent's holds
			hs := lm.holds[id]
			if len(hs) == 0 {
				continue
			}
			i := rng.IntN(len(hs))
			h := hs[i]
			lm.holds[id] = append(hs[:i:i], hs[i+1:]...)
			s.allocationPending = false
			f := frameworks[0]
			if h.framework != f.id {
				f = frameworks[1]
			}
			s.release(a, f, h.role, h.res)
			if !s.allocationPending {
				t.Fatalf("seed %d step %d: release(%s) asked for no round", seed, step, id)
			}
			did = fmt.Sprintf("release(%s, %s, %s)", id, f.id, h.res.Unallocate())
		case op < 8: // a new total that still covers what is held
			total := totals[rng.IntN(len(totals))]
			if !total.Contains(lm.held(id)) {
				continue
			}
			s.allocationPending = false
			s.setTotal(a, total)
			if !s.allocationPending {
				t.Fatalf("seed %d step %d: setTotal(%s) asked for no round", seed, step, id)
			}
			lm.total[id] = total
			did = fmt.Sprintf("setTotal(%s, %s)", id, total)
		case op < 9: // the agent disconnects or comes back (agents.go)
			if a.conn == nil {
				a.conn, a.health = &AgentConn{}, agentActive
			} else {
				a.conn, a.health = nil, agentDisconnected
			}
			s.touch(a)
			did = fmt.Sprintf("connected(%s)=%v", id, a.conn != nil)
		default:
			checkSums(t, s)
			clear(mutated)
			continue
		}
		mutated[id] = true
		done[did[:strings.IndexByte(did, '(')]]++

		for _, id := range ids {
			a := s.agents[id]
			if want := lm.held(id); !a.allocated.Equal(want) {
				t.Fatalf("seed %d step %d after %s: %s allocated %s, holds add up to %s", seed, step, did, id, a.allocated, want)
			}
			if !a.total.Equal(lm.total[id]) {
				t.Fatalf("seed %d step %d after %s: %s total %s, want %s", seed, step, did, id, a.total, lm.total[id])
			}
			if !a.total.Contains(a.allocated) {
				t.Fatalf("seed %d step %d after %s: %s allocated %s exceeds total %s", seed, step, did, id, a.allocated, a.total)
			}
		}
		for _, f := range frameworks {
			for _, role := range roles {
				// Scalars only: ranges held on two agents merge in the
				// framework's sum (state.go).
				if got, want := scalars(f.allocated[role]), scalars(lm.allocation(f.id, role)); !sameScalars(got, want) {
					t.Fatalf("seed %d step %d after %s: %s holds %v in role %s, its holds add up to %v", seed, step, did, f.id, got, role, want)
				}
				if _, ok := f.allocated[role]; ok && f.allocated[role].Empty() {
					t.Fatalf("seed %d step %d after %s: %s keeps an empty allocation in role %s", seed, step, did, f.id, role)
				}
			}
		}
		for id := range mutated {
			if !s.dirty[id] {
				t.Fatalf("seed %d step %d after %s: %s changed since the last round but is not dirty", seed, step, did, id)
			}
		}
	}
	checkSums(t, s)
	t.Logf("steps taken: %v", done)
	for _, kind := range []string{"hold", "release", "setTotal"} {
		if done[kind] == 0 {
			t.Errorf("no %s in %d steps", kind, steps)
		}
	}
}

// checkSums runs the bookkeeping of an incremental round and checks the
// cluster-wide sums against a recomputation from every agent.
func checkSums(t *testing.T, s *state) {
	t.Helper()
	_, cluster := s.roundAgents()
	wantTotal, wantUnreserved := map[string]float64{}, map[string]float64{}
	for _, a := range s.agents {
		if a.health != agentActive || a.conn == nil {
			continue
		}
		for name, v := range a.total.Quantities() {
			wantTotal[name] += v
		}
		for name, v := range a.available().Unreserved().Quantities() {
			wantUnreserved[name] += v
		}
	}
	sameQuantities(t, "cluster total", s.clusterTotal, wantTotal)
	sameQuantities(t, "cluster unreserved available", s.clusterUnreserved, wantUnreserved)
	sameQuantities(t, "round's cluster total", cluster.Total, wantTotal)
	sameQuantities(t, "round's cluster unreserved available", cluster.UnreservedAvailable, wantUnreserved)
	if len(s.dirty) != 0 {
		t.Fatalf("dirty agents left after a round: %v", s.dirty)
	}
}

func sameQuantities(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for name := range got {
		if _, ok := want[name]; !ok {
			want[name] = 0
		}
	}
	for name, w := range want {
		if math.Abs(got[name]-w) > 1e-6 {
			t.Fatalf("%s: %s is %v, recomputed %v (all: %v vs %v)", what, name, got[name], w, got, want)
		}
	}
}

// sameScalars compares quantities, leaving out the zeros a sum can keep.
func sameScalars(got, want map[string]float64) bool {
	for _, m := range []map[string]float64{got, want} {
		for name := range m {
			if math.Abs(got[name]-want[name]) > 1e-9 {
				return false
			}
		}
	}
	return true
}

func scalars(r resources.Resources) map[string]float64 {
	q := map[string]float64{}
	for _, x := range r {
		if x.GetType() == mesospb.Value_SCALAR {
			q[x.GetName()] += x.GetScalar().GetValue()
		}
	}
	return q
}
