package allocator

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/resources"
)

var t0 = time.Unix(1_700_000_000, 0)

func res(t testing.TB, s string) resources.Resources {
	t.Helper()
	r, err := resources.Parse(s, "*")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func agent(t testing.TB, id, r string) Agent {
	rs := res(t, r)
	return Agent{ID: id, Hostname: id, Total: rs, Available: rs}
}

func framework(id string, roles ...string) Framework {
	return Framework{ID: id, Roles: roles, Allocated: map[string]resources.Resources{}}
}

// describe renders offers as "fw@agent/role: resources" lines.
func describe(r Result) string {
	var lines []string
	for _, o := range r.Offers {
		lines = append(lines, fmt.Sprintf("%s@%s/%s: %s", o.FrameworkID, o.AgentID, o.Role, resources.Resources(nil).Add(o.Resources)))
	}
	return strings.Join(lines, "\n")
}

func TestDRFGivesEachAgentToTheFrameworkWithTheLowestShare(t *testing.T) {
	// The classic example: A's tasks need <1 cpu, 4 GB>, B's <3 cpu, 1 GB>
	// on a 9 cpu / 18 GB cluster. A holds 2 tasks (2 cpu, 8 GB: share 8/18),
	// B holds 1 (3 cpu, 1 GB: share 3/9); B is further from its fair share.
	a, b := framework("A", "*"), framework("B", "*")
	a.Allocated["*"] = res(t, "cpus:2;mem:8192")
	b.Allocated["*"] = res(t, "cpus:3;mem:1024")
	s := &Snapshot{Now: t0,
		Agents:     []Agent{agent(t, "big", "cpus:9;mem:18432"), agent(t, "small", "cpus:1;mem:1024")},
		Frameworks: []Framework{a, b}}
	s.Agents[0].Available = res(t, "cpus:4;mem:9216")
	got := describe(New(Options{}).Allocate(s))
	want := "B@big/*: cpus:4;mem:9216\nA@small/*: cpus:1;mem:1024"
	if got != want {
		t.Fatalf("offers:\n%s\nwant:\n%s", got, want)
	}
}

func TestWeightsFavourHeavierRoles(t *testing.T) {
	web, batch := framework("web", "web"), framework("batch", "batch")
	web.Allocated["web"] = res(t, "cpus:2")
	batch.Allocated["batch"] = res(t, "cpus:1")
	s := &Snapshot{Now: t0, Agents: []Agent{agent(t, "a1", "cpus:10")}, Frameworks: []Framework{web, batch},
		Roles: map[string]Role{"web": {Weight: 3}}}
	// web's weighted share 2/13/3 is below batch's 1/13.
	if got := describe(New(Options{}).Allocate(s)); !strings.HasPrefix(got, "web@a1") {
		t.Fatalf("offers = %s, want the agent for the heavier role", got)
	}
}

func TestReservationsGoToTheirRoleAndDescendants(t *testing.T) {
	s := &Snapshot{Now: t0,
		Agents:     []Agent{agent(t, "a1", "cpus(eng):2;mem(eng):512;cpus:1;mem:256")},
		Frameworks: []Framework{framework("ops", "ops"), framework("be", "eng/backend")}}
	got := describe(New(Options{}).Allocate(s))
	if !strings.Contains(got, "be@a1/eng/backend: cpus:1;cpus(eng):2;mem:256;mem(eng):512") &&
		!strings.Contains(got, "ops@a1/ops: cpus:1;mem:256") {
		t.Fatalf("offers:\n%s", got)
	}
	for _, o := range New(Options{}).Allocate(s).Offers {
		if o.Role == "ops" && !o.Resources.Unreserved().Equal(o.Resources) {
			t.Fatalf("role ops was offered eng's reservation: %s", o.Resources)
		}
	}
}

func TestFiltersSuppressionAndGPUs(t *testing.T) {
	f := framework("f", "*")
	f.Filters = map[string][]Filter{"a1": {{AgentID: "a1", Resources: res(t, "cpus:4;mem:1024"), Expires: t0.Add(5 * time.Second)}}}
	s := &Snapshot{Now: t0, Agents: []Agent{agent(t, "a1", "cpus:4;mem:1024")}, Frameworks: []Framework{f}}
	r := New(Options{}).Allocate(s)
	if len(r.Offers) != 0 || !reflect.DeepEqual(r.Skips, []Skip{{FrameworkID: "f", Role: "*", Reason: ReasonFiltered, Agents: 1}}) {
		t.Fatalf("filtered: %+v", r)
	}
	s.Now = t0.Add(5 * time.Second)
	if len(New(Options{}).Allocate(s).Offers) != 1 {
		t.Fatal("an expired filter still applies")
	}
	s.Frameworks[0].Filters = nil
	s.Frameworks[0].Suppressed = map[string]bool{"*": true}
	if r := New(Options{}).Allocate(s); len(r.Offers) != 0 || r.Skips[0].Reason != ReasonSuppressed {
		t.Fatalf("suppressed: %+v", r)
	}
	s.Frameworks[0].Suppressed = nil
	s.Agents = []Agent{agent(t, "gpu", "cpus:4;mem:1024;gpus:1")}
	if r := New(Options{}).Allocate(s); len(r.Offers) != 0 || r.Skips[0].Reason != ReasonGPUAgent {
		t.Fatalf("GPU agent offered to a framework without GPU_RESOURCES: %+v", r)
	}
	s.Frameworks[0].Capabilities.GPUResources = true
	if len(New(Options{}).Allocate(s).Offers) != 1 {
		t.Fatal("GPU-aware framework got nothing")
	}
}

func TestMinimumAllocatable(t *testing.T) {
	s := &Snapshot{Now: t0, Agents: []Agent{agent(t, "a1", "cpus:0.001;mem:16;disk:100")}, Frameworks: []Framework{framework("f", "*")}}
	if r := New(Options{}).Allocate(s); len(r.Offers) != 0 {
		t.Fatalf("offered crumbs: %s", describe(r))
	}
}

func TestDeterministic(t *testing.T) {
	s := bigSnapshot(t, 50, 10, 3)
	first := describe(New(Options{}).Allocate(s))
	for range 5 {
		if got := describe(New(Options{}).Allocate(s)); got != first {
			t.Fatal("the same snapshot gave different offers")
		}
	}
	if first == "" {
		t.Fatal("no offers at all")
	}
}

func bigSnapshot(t testing.TB, agents, frameworks, roles int) *Snapshot {
	s := &Snapshot{Now: t0}
	for i := range agents {
		s.Agents = append(s.Agents, agent(t, fmt.Sprintf("a%d", i), "cpus:32;mem:65536;disk:100000;ports:[31000-32000]"))
	}
	for i := range frameworks {
		f := framework(fmt.Sprintf("f%d", i), fmt.Sprintf("role%d", i%roles))
		f.Allocated[f.Roles[0]] = res(t, fmt.Sprintf("cpus:%d;mem:%d", i%7, 1024*(i%5)))
		s.Frameworks = append(s.Frameworks, f)
	}
	return s
}

// BenchmarkAllocate is the matrix of full rounds (every agent has
// something to offer, the worst case) over agents × frameworks × roles,
// with the sizes the allocator is held to.
func BenchmarkAllocate(b *testing.B) {
	for _, c := range []struct{ agents, fws, roles int }{
		{100, 10, 1}, {1000, 100, 1}, {1000, 100, 10},
		{2000, 200, 1}, {2000, 200, 20},
		{10000, 100, 1}, {10000, 1000, 1}, {10000, 1000, 50},
		{50000, 100, 1},
	} {
		b.Run(fmt.Sprintf("agents=%d/frameworks=%d/roles=%d", c.agents, c.fws, c.roles), func(b *testing.B) {
			s := bigSnapshot(b, c.agents, c.fws, c.roles)
			a := New(Options{})
			for b.Loop() {
				a.Allocate(s)
			}
		})
	}
}

// BenchmarkAllocateFiltered is a full round over 10,000 agents where four
// frameworks of five declined every agent with a filter (as a framework
// that declines what it does not need does) and the fifth is offered
// them: the filters consulted per agent must not grow with the cluster.
func BenchmarkAllocateFiltered(b *testing.B) {
	s := bigSnapshot(b, 10000, 5, 1)
	whole := res(b, "cpus:32;mem:65536;disk:100000;ports:[31000-32000]")
	for i := range s.Frameworks[:4] {
		f := &s.Frameworks[i]
		f.Allocated = map[string]resources.Resources{} // first in DRF order, so each is asked before the fifth
		f.Filters = make(map[string][]Filter, len(s.Agents))
		for _, ag := range s.Agents {
			f.Filters[ag.ID] = []Filter{{AgentID: ag.ID, Resources: whole, Expires: t0.Add(time.Hour)}}
		}
	}
	a := New(Options{})
	for b.Loop() {
		if r := a.Allocate(s); len(r.Offers) != len(s.Agents) || r.Offers[0].FrameworkID != "f4" {
			b.Fatalf("%d offers, the first to %s: want every agent offered to f4", len(r.Offers), r.Offers[0].FrameworkID)
		}
	}
}

// BenchmarkAllocateIncremental is a round after one agent changed in a
// cluster of 10,000: the snapshot holds that agent and the cluster totals.
func BenchmarkAllocateIncremental(b *testing.B) {
	full := bigSnapshot(b, 10000, 1000, 10)
	cluster := &Cluster{Total: map[string]float64{}, UnreservedAvailable: map[string]float64{}}
	for _, ag := range full.Agents {
		for name, v := range ag.Total.Quantities() {
			cluster.Total[name] += v
			cluster.UnreservedAvailable[name] += v
		}
	}
	s := &Snapshot{Now: full.Now, Agents: full.Agents[:1], Frameworks: full.Frameworks, Cluster: cluster}
	a := New(Options{})
	for b.Loop() {
		a.Allocate(s)
	}
}
