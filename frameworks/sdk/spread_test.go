package sdk

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func agentAt(host, zone string) Placement {
	p := Placement{AgentID: "id-" + host, Hostname: host, Attributes: map[string]string{}}
	if zone != "" {
		p.Attributes["zone"] = zone
	}
	return p
}

func TestChooseSpread(t *testing.T) {
	a, b, c := agentAt("a", "z1"), agentAt("b", "z1"), agentAt("c", "z2")
	bare := agentAt("d", "")
	now := time.Unix(1000, 0)
	preferred := Spread{Mode: SpreadPreferred, By: "hostname"}
	required := Spread{Mode: SpreadRequired, By: "hostname"}
	settled := now.Add(-time.Minute) // waiting long enough to know the cluster
	for _, tc := range []struct {
		name      string
		in        SpreadInput
		want      int
		held      bool
		reasonHas string
	}{
		{name: "nothing placed: the first in hand",
			in: SpreadInput{Rule: preferred, InHand: []Placement{a, b, c}}, want: 0},
		{name: "preferred: the first host without one",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a}, InHand: []Placement{a, b, c}}, want: 1},
		{name: "preferred: the emptiest host when all hold some",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a, a, b, c, c}, InHand: []Placement{a, b, c}, Since: settled}, want: 1},
		{name: "preferred: held while a host known elsewhere has none",
			in: SpreadInput{Rule: preferred, What: "pet of db", Placed: []Placement{a}, InHand: []Placement{a},
				Elsewhere: func() []Placement { return []Placement{b} }, Since: settled, Wait: 10 * time.Second},
			want: -1, held: true, reasonHas: "waiting up to 10s for b to offer"},
		{name: "preferred: held while the cluster is not known yet",
			in: SpreadInput{Rule: preferred, What: "pet of db", Placed: []Placement{a}, InHand: []Placement{a},
				Since: now.Add(-time.Second), Settled: 2 * time.Second, Wait: 10 * time.Second},
			want: -1, held: true, reasonHas: "for other agents to offer"},
		{name: "preferred: a new instance shares at once when the framework has long known every agent",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a, b, c}, InHand: []Placement{a},
				Elsewhere: func() []Placement { return []Placement{b, c} }, Since: now, Settled: 2 * time.Second,
				Watching: now.Add(-time.Minute), Wait: 10 * time.Second},
			want: 0},
		{name: "preferred: a new instance of a framework that only just started watching waits",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a}, InHand: []Placement{a}, Since: now, Settled: 2 * time.Second,
				Watching: now.Add(-time.Second), Wait: 10 * time.Second},
			want: -1, held: true, reasonHas: "for other agents to offer"},
		{name: "preferred: shares once held for the whole wait",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a}, InHand: []Placement{a},
				Elsewhere: func() []Placement { return []Placement{b} }, Since: settled, HeldSince: now.Add(-10 * time.Second), Wait: 10 * time.Second},
			want: 0},
		{name: "preferred: shares at once when no host known has fewer",
			in: SpreadInput{Rule: preferred, Placed: []Placement{a, b, c}, InHand: []Placement{b, a},
				Elsewhere: func() []Placement { return []Placement{c} }, Since: settled, Wait: 10 * time.Second},
			want: 0},
		{name: "preferred by zone: a host in another zone before a new host in the same zone",
			in: SpreadInput{Rule: Spread{Mode: SpreadPreferred, By: "zone"}, Placed: []Placement{a}, InHand: []Placement{b, c}}, want: 1},
		{name: "preferred by zone: agents without the attribute share one domain",
			in: SpreadInput{Rule: Spread{Mode: SpreadPreferred, By: "zone"}, Placed: []Placement{agentAt("e", "")}, InHand: []Placement{bare, c}}, want: 1},
		{name: "required: never a host that holds one",
			in: SpreadInput{Rule: required, What: "pet of db", Placed: []Placement{a, b}, InHand: []Placement{a, b},
				Elsewhere: func() []Placement { t.Error("a required spread consulted Elsewhere"); return nil }},
			want: -1, reasonHas: "spread required by hostname: every offered agent has a pet of db already on its host (a, b)"},
		{name: "required: a free host is taken",
			in: SpreadInput{Rule: required, Placed: []Placement{a}, InHand: []Placement{a, c}}, want: 1},
		{name: "required by zone: neither the same zone nor no zone",
			in:   SpreadInput{Rule: Spread{Mode: SpreadRequired, By: "zone"}, What: "pet of db", Placed: []Placement{a}, InHand: []Placement{b, bare}},
			want: -1, reasonHas: "a pet of db already in its zone (b) or no attribute zone (d)"},
		{name: "none: the first in hand, shared or not",
			in: SpreadInput{Rule: Spread{Mode: SpreadNone, By: "hostname"}, Placed: []Placement{a}, InHand: []Placement{a, b}}, want: 0},
		{name: "nothing in hand",
			in: SpreadInput{Rule: preferred}, want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = now
			got := ChooseSpread(tc.in)
			if got.Index != tc.want || got.Held != tc.held {
				t.Fatalf("ChooseSpread = %+v, want index %d held %v", got, tc.want, tc.held)
			}
			if !strings.Contains(got.Reason, tc.reasonHas) {
				t.Fatalf("reason %q, want it to contain %q", got.Reason, tc.reasonHas)
			}
		})
	}
}

// Packing a round of offers one instance at a time, counting what was
// placed before, spreads evenly: 3 on 3 hosts, 5 on 2 hosts as 3 and 2.
func TestChooseSpreadPacksARoundEvenly(t *testing.T) {
	hosts := []Placement{agentAt("a", ""), agentAt("b", ""), agentAt("c", "")}
	for _, tc := range []struct {
		hosts, instances int
		want             map[string]int
	}{
		{3, 3, map[string]int{"a": 1, "b": 1, "c": 1}},
		{2, 5, map[string]int{"a": 3, "b": 2}},
	} {
		var placed []Placement
		for range tc.instances {
			ch := ChooseSpread(SpreadInput{Rule: Spread{Mode: SpreadPreferred, By: "hostname"}, Placed: placed,
				InHand: hosts[:tc.hosts], Now: time.Unix(100, 0), Settled: time.Second})
			if ch.Index < 0 {
				t.Fatalf("%d on %d hosts: nothing chosen after %d: %s", tc.instances, tc.hosts, len(placed), ch.Reason)
			}
			placed = append(placed, hosts[ch.Index])
		}
		got := map[string]int{}
		for _, p := range placed {
			got[p.Hostname]++
		}
		for h, n := range tc.want {
			if got[h] != n {
				t.Errorf("%d on %d hosts: %v, want %v", tc.instances, tc.hosts, got, tc.want)
				break
			}
		}
	}
}

func TestSpreadValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Spread
		want string
	}{
		{Spread{Mode: SpreadPreferred, By: "hostname"}, ""},
		{Spread{Mode: SpreadRequired, By: "zone"}, ""},
		{Spread{Mode: SpreadNone, By: "hostname"}, ""},
		{Spread{Mode: "sometimes", By: "hostname"}, `spread "sometimes": use preferred, required or none`},
		{Spread{Mode: SpreadRequired, By: "rack id"}, `spread by "rack id"`},
		{Spread{Mode: SpreadRequired, By: ""}, `spread by ""`},
	} {
		err := tc.s.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v.Validate() = %v, want %q", tc.s, err, tc.want)
		}
	}
}

func TestSeenAgentsRemembersTheLatestOfferPerRole(t *testing.T) {
	offer := func(agent, role, res string) *mesospb.Offer {
		r, _ := resources.Parse(res, "*")
		return &mesospb.Offer{AgentId: &mesospb.AgentID{Value: proto.String(agent)}, Hostname: proto.String("host-" + agent),
			Resources: r.Allocate(role), AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String(role)}}
	}
	var s SeenAgents
	t0 := time.Unix(100, 0)
	s.Observe(offer("b", "pets", "cpus:1"), t0)
	s.Observe(offer("a", "pets", "cpus:1"), t0)
	s.Observe(offer("a", "pets", "cpus:2"), t0.Add(time.Second))
	s.Observe(offer("c", "web", "cpus:1"), t0.Add(time.Second))
	got := s.Recent("pets", t0)
	if len(got) != 2 || got[0].AgentID != "a" || got[1].AgentID != "b" || got[0].Hostname != "host-a" {
		t.Fatalf("Recent(pets) = %+v, want a then b", got)
	}
	if cpus := resources.Resources(got[0].Unreserved.GetResources()).ScalarValue("cpus"); cpus != 2 {
		t.Fatalf("a's room = %v cpus, want its latest offer's 2", cpus)
	}
	if got := s.Recent("pets", t0.Add(time.Second)); len(got) != 1 || got[0].AgentID != "a" {
		t.Fatalf("Recent(pets, later) = %+v, want only a", got)
	}
	if w := s.Watching("pets", t0); !w.Equal(t0) {
		t.Fatalf("Watching(pets) = %v, want the first offer's %v (a later offer of a keeps it)", w, t0)
	}
	if w := s.Watching("web", t0); !w.Equal(t0.Add(time.Second)) {
		t.Fatalf("Watching(web) = %v, want %v", w, t0.Add(time.Second))
	}
	s.Forget(t0.Add(time.Second))
	if got := s.Recent("pets", time.Time{}); len(got) != 1 {
		t.Fatalf("after Forget, Recent = %+v, want b forgotten", got)
	}
	if w := s.Watching("none", t0); !w.IsZero() {
		t.Fatalf("Watching a role never offered = %v, want zero", w)
	}
}
