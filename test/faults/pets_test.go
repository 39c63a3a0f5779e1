package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
)

// pets is the pets framework running on a node of its own.
type pets struct {
	c    *cluster.Cluster
	node *cluster.Node
	api  string
}

func startPets(c *cluster.Cluster) *pets {
	n := c.AddProcess("pets", 8081, "pets", "--listen", "{addr}", "--zk", c.ZKURL(), "--zk-session-timeout", "2s", "--work-dir", "{dir}")
	return &pets{c: c, node: n, api: "http://" + n.Addr}
}

type petView struct {
	Name, Phase, TaskID, Host, AgentID, Unknown, Waiting, State, Stopping string
	Ready                                                                 bool
	Incarnation, Revision                                                 int
}

// call sends a request to the pets API until it answers want.
func (p *pets) call(t *testing.T, method, path, body string, want int) {
	t.Helper()
	callUntil(t, p.c, method, p.api+path, body, want)
}

// view reads the set's pets by name; nil if the API does not answer.
func (p *pets) view(set string) map[string]petView {
	status, b, err := p.c.HTTP(http.MethodGet, p.api+"/v1/petsets/"+set, "")
	if err != nil || status != http.StatusOK {
		return nil
	}
	var v struct{ Pets []petView }
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	out := map[string]petView{}
	for _, pet := range v.Pets {
		out[pet.Name] = pet
	}
	return out
}

// ready waits until the set's n pets are ready at revision (0: any) and
// returns them.
func (p *pets) ready(t *testing.T, set string, n, revision int, within time.Duration) map[string]petView {
	t.Helper()
	var v map[string]petView
	p.c.WaitFor(within, fmt.Sprintf("%d pets of %s ready", n, set), func() bool {
		v = p.view(set)
		ready := 0
		for _, pet := range v {
			if pet.Ready && (revision == 0 || pet.Revision == revision) {
				ready++
			}
		}
		return ready == n
	})
	return v
}

// final settles the set's pets and records their final states: running
// if ready, as the master sees its task, and their processes.
func (p *pets) final(t *testing.T, set string) {
	t.Helper()
	p.c.SettleObserved(60*time.Second, func() []cluster.Observed {
		var out []cluster.Observed
		for name, pet := range p.view(set) {
			state := pet.State
			if pet.Ready {
				state = "TASK_RUNNING"
			}
			out = append(out, cluster.Observed{Identity: name, TaskID: pet.TaskID, State: state})
		}
		return out
	})
}

func (p *pets) agentOf(pet petView) *cluster.Node {
	for _, a := range p.c.Agents {
		if a.Name == pet.Host {
			return a
		}
	}
	return nil
}

// An agent goes deaf one way: it still hears the masters, they no longer
// hear it. Its pet is in doubt, and an operator replaces it. The pet must
// not run anywhere else while its old instance may still run: only when
// the old one is known to be dead (the agent is back and the kill is
// confirmed) may the replacement start, elsewhere.
func TestOneWayPartitionedAgentsPetIsReplacedOnlyOnceItsOldInstanceIsDead(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 4, Identity: identity}))
	p := startPets(c)
	p.call(t, http.MethodPost, "/v1/petsets", `{"id":"kv","instances":3,"podManagementPolicy":"Parallel","cmd":"exec sleep 100000",
		"cpus":0.1,"mem":32,"volumes":[{"containerPath":"data","size":10}],"constraints":[["hostname","UNIQUE"]]}`, http.StatusCreated)
	before := p.ready(t, "kv", 3, 0, 90*time.Second)["kv-1"]
	deaf := p.agentOf(before)
	if deaf == nil {
		t.Fatalf("kv-1 runs on %q, not one of the agents", before.Host)
	}
	c.OneWay([]*cluster.Node{deaf}, c.Masters)
	c.WaitFor(30*time.Second, "kv-1 to be in doubt", func() bool { return p.view("kv")["kv-1"].Unknown != "" })
	c.Expect("kv-1", "", "replace kv-1")
	p.call(t, http.MethodPost, "/v1/petsets/kv/pets/1/replace", "", http.StatusAccepted)
	c.WaitFor(30*time.Second, "the framework to act on the replace", func() bool {
		v := p.view("kv")["kv-1"]
		return v.Stopping != "" || v.Incarnation != before.Incarnation
	})
	// Offers come every 100 ms: a replacement started now shows within
	// this window (the checker, not this wait, decides).
	cluster.Poll(3*time.Second, func() bool { return c.Procs("kv-1") > 1 })
	c.HealNetwork()
	after := p.ready(t, "kv", 3, 0, 90*time.Second)["kv-1"]
	if after.Host == before.Host {
		t.Fatalf("kv-1 was replaced onto the agent it was replaced from (%s)", after.Host)
	}
	c.WaitFor(30*time.Second, "one kv-1 process", func() bool { return c.Procs("kv-1") == 1 })
	p.final(t, "kv")
	finish(t, c)
}
