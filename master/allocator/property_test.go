package allocator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/corral-sched/corral/resources"
)

// randomCluster builds agents with integer resources, some of them
// reserved, and frameworks spread over a small role tree.
func randomCluster(t *testing.T, rng *rand.Rand) *Snapshot {
	roles := []string{"*", "eng", "eng/backend", "eng/frontend", "ops", "batch"}
	s := &Snapshot{Now: t0, Roles: map[string]Role{}}
	for i := range 2 + rng.IntN(20) {
		text := fmt.Sprintf("cpus:%d;mem:%d;ports:[31000-31099]", 1+rng.IntN(8), 1024*(1+rng.IntN(8)))
		if rng.IntN(3) == 0 {
			role := roles[1+rng.IntN(len(roles)-1)]
			text += fmt.Sprintf(";cpus(%s):%d;mem(%s):%d", role, 1+rng.IntN(4), role, 512*(1+rng.IntN(4)))
		}
		r := res(t, text)
		s.Agents = append(s.Agents, Agent{ID: fmt.Sprintf("a%02d", i), Total: r, Available: r})
	}
	for i := range 1 + rng.IntN(8) {
		f := framework(fmt.Sprintf("f%d", i), roles[rng.IntN(len(roles))])
		if rng.IntN(4) == 0 {
			f.Roles = append(f.Roles, roles[rng.IntN(len(roles))])
			if f.Roles[0] == f.Roles[1] {
				f.Roles = f.Roles[:1]
			}
		}
		s.Frameworks = append(s.Frameworks, f)
	}
	for _, role := range roles[1:] {
		if rng.IntN(3) == 0 {
			s.Roles[role] = Role{Weight: float64(1 + rng.IntN(4))}
		}
	}
	return s
}

func roleTotals(res Result) map[string]resources.Resources {
	out := make(map[string]resources.Resources)
	for _, o := range res.Offers {
		out[o.Role] = out[o.Role].Add(o.Resources)
	}
	return out
}

// Offers never exceed what agents have, no resource is offered twice, and
// reservations stay in their subtree, whatever the cluster.
func TestPropertyOffersFitAndReservationsStayHome(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		s := randomCluster(t, rng)
		checkRound(t, s, New(Options{}).Allocate(s))
	}
}

// A guarantee that fits in the cluster is met in one round, and no limit
// is exceeded.
func TestPropertyQuota(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for run := range 300 {
		s := randomCluster(t, rng)
		var cpus, mem float64
		for _, a := range s.Agents {
			cpus += a.Total.Unreserved().ScalarValue("cpus")
			mem += a.Total.Unreserved().ScalarValue("mem")
		}
		guaranteed := map[string]bool{}
		for _, f := range s.Frameworks {
			role := f.Roles[0]
			if role == "*" || guaranteed[role] || rng.IntN(2) == 0 {
				continue
			}
			// Leave room for the others: each guarantee takes at most a
			// quarter of what is left, in whole units.
			g := Role{Guarantees: map[string]float64{"cpus": math.Floor(cpus / 4), "mem": math.Floor(mem/4/1024) * 1024}}
			cpus -= g.Guarantees["cpus"]
			mem -= g.Guarantees["mem"]
			if rng.IntN(2) == 0 {
				g.Limits = map[string]float64{"cpus": g.Guarantees["cpus"] + float64(rng.IntN(3))}
			}
			s.Roles[role] = g
			guaranteed[role] = true
		}
		// Guarantees of a parent and a child would overlap: keep one.
		if guaranteed["eng"] {
			delete(s.Roles, "eng/backend")
			delete(s.Roles, "eng/frontend")
		}
		res := New(Options{}).Allocate(s)
		checkRound(t, s, res)
		got := roleTotals(res)
		for role, cfg := range s.Roles {
			var held resources.Resources
			for r, rs := range got {
				if r == role || resources.IsAncestor(role, r) {
					held = held.Add(rs)
				}
			}
			for name, limit := range cfg.Limits {
				if held.ScalarValue(name) > limit+epsilon {
					t.Fatalf("run %d: role %s holds %v %s, over its limit %v", run, role, held.ScalarValue(name), name, limit)
				}
			}
			for name, g := range cfg.Guarantees {
				if lim, ok := cfg.Limits[name]; ok && lim < g {
					continue
				}
				if held.ScalarValue(name)+epsilon < g {
					t.Fatalf("run %d: role %s holds %v %s, below its guarantee %v\noffers: %s", run, role, held.ScalarValue(name), name, g, describe(res))
				}
			}
		}
	}
}

// With many equal agents, roles end up holding agents in the ratio of
// their weights.
func TestPropertyWeightsSkewShares(t *testing.T) {
	for _, w := range []float64{1, 2, 3, 5} {
		s := &Snapshot{Now: t0, Roles: map[string]Role{"heavy": {Weight: w}}}
		for i := range 120 {
			s.Agents = append(s.Agents, agent(t, fmt.Sprintf("a%03d", i), "cpus:1;mem:1024"))
		}
		s.Frameworks = []Framework{framework("h", "heavy"), framework("l", "light")}
		got := roleTotals(New(Options{}).Allocate(s))
		heavy, light := got["heavy"].ScalarValue("cpus"), got["light"].ScalarValue("cpus")
		if math.Abs(heavy/light-w) > 0.1*w {
			t.Errorf("weight %v: heavy holds %v cpus, light %v: ratio %.2f", w, heavy, light, heavy/light)
		}
	}
}
