package pets

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
)

// spreadSpec is dbSpec without its UNIQUE constraint: where the pets go
// is up to the set's placement setting.
func spreadSpec(instances int, placement any) map[string]any {
	s := dbSpec(instances)
	delete(s, "constraints")
	if placement != nil {
		s["placement"] = placement
	}
	return s
}

// hostsOf counts the set's placed pets per host.
func hostsOf(pets map[int]*PetView) map[string]int {
	out := map[string]int{}
	for _, p := range pets {
		if p.Host != "" {
			out[p.Host]++
		}
	}
	return out
}

// Three pets on three empty agents land on three agents, though each
// agent's offer alone could take all three.
func TestPetsSpreadOverAgentsByDefault(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 3})
	h.do(http.MethodPost, "/v1/petsets", spreadSpec(3, nil), http.StatusCreated)
	h.waitReady("db", 3, 0)
	if hosts := hostsOf(h.pets("db")); len(hosts) != 3 {
		t.Fatalf("3 pets on hosts %v, want 3 hosts", hosts)
	}
	if v := h.set("db"); v.Placement == nil || v.Placement.Spread != "preferred" || v.Placement.By != "hostname" {
		t.Errorf("placement = %+v, want the default shown: preferred by hostname", v.Placement)
	}
}

// A replaced pet moves to the agent that has no pet of the set rather
// than next to one.
func TestReplacedPetMovesToAnEmptyAgent(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 4})
	h.do(http.MethodPost, "/v1/petsets", spreadSpec(3, nil), http.StatusCreated)
	h.waitReady("db", 3, 0)
	before := h.pets("db")
	if hosts := hostsOf(before); len(hosts) != 3 {
		t.Fatalf("3 pets on hosts %v, want 3 hosts", hosts)
	}
	h.do(http.MethodPost, "/v1/petsets/db/pets/1/replace", nil, http.StatusAccepted)
	h.waitFor("db-1 replaced", func() bool {
		p := h.pets("db")[1]
		return p.Ready && p.Incarnation == 2
	})
	after := h.pets("db")
	if hosts := hostsOf(after); len(hosts) != 3 || hosts[before[1].Host] != 0 {
		t.Errorf("after replacing db-1 (was on %s) the pets are on %v, want 3 hosts, none of them %s", before[1].Host, hosts, before[1].Host)
	}
}

// A preferred spread never starves: two agents take three pets, two of
// them sharing a host.
func TestPreferredSpreadSharesAHostWhenItMust(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 2})
	h.do(http.MethodPost, "/v1/petsets", spreadSpec(3, nil), http.StatusCreated)
	h.waitReady("db", 3, 0)
	hosts := hostsOf(h.pets("db"))
	if len(hosts) != 2 || hosts["agent-0"]+hosts["agent-1"] != 3 {
		t.Fatalf("3 pets on hosts %v, want both agents used", hosts)
	}
}

// A required spread by hostname never puts two pets on one host: with
// two agents the third pet waits, and the API says why.
func TestRequiredSpreadLeavesTheThirdPetWaiting(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 2})
	h.do(http.MethodPost, "/v1/petsets", spreadSpec(3, map[string]string{"spread": "required", "by": "hostname"}), http.StatusCreated)
	var pets map[int]*PetView
	h.waitFor("db-2 to say why it waits", func() bool {
		pets = h.pets("db")
		return pets[2] != nil && strings.Contains(pets[2].Waiting, "spread required by hostname")
	})
	t.Logf("db-2 waits: %s", pets[2].Waiting)
	if p := pets[2]; p.Host != "" || !strings.Contains(p.Waiting, "already on its host (agent-") {
		t.Errorf("db-2 is at %q waiting %q, want it unplaced, naming the agents ruled out", p.Host, p.Waiting)
	}
	if hosts := hostsOf(pets); len(hosts) != 2 || hosts["agent-0"] != 1 || hosts["agent-1"] != 1 {
		t.Errorf("pets placed on %v, want db-0 and db-1 on one host each", hosts)
	}
}

// A required spread by an attribute: pets go to distinct zones, and a
// host in a zone already used is no home.
func TestRequiredSpreadByZone(t *testing.T) {
	zones := []string{"z1", "z1", "z2"}
	h := newHarness(t, sdktest.Options{Agents: 3, Agent: func(i int, c *agent.Config) {
		c.Attributes = fmt.Sprintf("host:agent-%d;zone:%s", i, zones[i])
	}})
	spec := spreadSpec(3, map[string]string{"spread": "required", "by": "zone"})
	spec["podManagementPolicy"] = "Parallel"
	h.do(http.MethodPost, "/v1/petsets", spec, http.StatusCreated)
	var pets map[int]*PetView
	h.waitFor("a pet to wait for a zone", func() bool {
		pets = h.pets("db")
		placed := 0
		waiting := false
		for _, p := range pets {
			if p.Host != "" {
				placed++
			} else {
				waiting = waiting || strings.Contains(p.Waiting, "spread required by zone")
			}
		}
		return placed == 2 && waiting
	})
	hosts := hostsOf(pets)
	if hosts["agent-2"] != 1 || hosts["agent-0"]+hosts["agent-1"] != 1 {
		t.Errorf("pets placed on %v, want one in z1 (agent-0 or agent-1) and one in z2 (agent-2)", hosts)
	}
}
