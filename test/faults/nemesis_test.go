package faults

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
)

// nemesis composes faults at random for a bounded time over a cluster
// with a workload running: the fleet launching and killing tasks, a pet
// set, an operator writing the registry. Each step injects one fault,
// holds it, heals it, and lets the cluster breathe.
type nemesis struct {
	t     *testing.T
	c     *cluster.Cluster
	r     *rand.Rand
	fleet *cluster.Fleet
	pets  *pets
	next  int // the fleet's next task
	steps map[string]int
}

// faults the nemesis picks from, each a function that injects one and
// returns how to heal it.
func (n *nemesis) faults() map[string]func() func() {
	c, r := n.c, n.r
	anyOf := func(nodes []*cluster.Node) *cluster.Node { return nodes[r.IntN(len(nodes))] }
	return map[string]func() func(){
		"partition": func() func() {
			var all []*cluster.Node
			for _, g := range [][]*cluster.Node{c.ZooKeepers, c.Masters, c.Agents, {n.fleet.Node}} {
				all = append(all, g...)
			}
			r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			cut := 1 + r.IntN(len(all)-1)
			c.Partition(all[:cut], all[cut:])
			return c.HealNetwork
		},
		"leader-from-agents": func() func() {
			if l := c.Leader(); l != nil {
				c.Partition([]*cluster.Node{l}, c.Agents)
			}
			return c.HealNetwork
		},
		"leader-from-zookeeper": func() func() {
			if l := c.Leader(); l != nil {
				c.Partition([]*cluster.Node{l}, c.ZooKeepers)
			}
			return c.HealNetwork
		},
		"one-way-agent": func() func() {
			c.OneWay([]*cluster.Node{anyOf(c.Agents)}, c.Masters)
			return c.HealNetwork
		},
		"lossy-links": func() func() {
			var some []*cluster.Node
			for _, g := range [][]*cluster.Node{c.ZooKeepers, c.Masters, c.Agents} {
				for _, node := range g {
					if r.IntN(2) == 0 {
						some = append(some, node)
					}
				}
			}
			if len(some) > 0 {
				c.Lossy(some, 10+r.IntN(21))
			}
			return c.HealNetwork
		},
		"pause-leader": func() func() {
			l := c.Leader()
			if l == nil {
				return func() {}
			}
			c.Pause(l)
			return func() { c.Resume(l) }
		},
		"kill-master": func() func() {
			m := anyOf(c.Masters)
			c.Kill9(m)
			return func() { c.Restart(m) }
		},
		"kill-agent": func() func() {
			a := anyOf(c.Agents)
			c.Kill9(a)
			return func() { c.Restart(a) }
		},
		"crash-machine": func() func() {
			a := anyOf(c.Agents)
			c.Crash(a)
			return func() { c.Restart(a) } // the machine reboots, empty of tasks
		},
		"kill-zookeeper": func() func() {
			z := anyOf(c.ZooKeepers)
			c.Kill9(z)
			return func() { c.Restart(z) }
		},
		"zookeeper-quorum-loss": func() func() {
			lost := slices.Clone(c.ZooKeepers)
			r.Shuffle(len(lost), func(i, j int) { lost[i], lost[j] = lost[j], lost[i] })
			lost = lost[:2]
			for _, z := range lost {
				c.Kill9(z)
			}
			return func() {
				for _, z := range lost {
					c.Restart(z)
				}
			}
		},
	}
}

// work does a little of the workload: launches, a kill, a weight.
func (n *nemesis) work() {
	var ids []string
	for range 1 + n.r.IntN(3) {
		ids = append(ids, fmt.Sprintf("n-%03d", n.next))
		n.next++
	}
	n.fleet.Launch(ids...)
	if n.r.IntN(3) == 0 {
		var running []string
		for _, id := range n.fleet.Tasks() {
			if n.fleet.State(id) == "TASK_RUNNING" {
				running = append(running, id)
			}
		}
		if len(running) > 0 {
			_ = n.fleet.Kill(running[n.r.IntN(len(running))])
		}
	}
	if n.r.IntN(4) == 0 {
		if l := n.c.Leader(); l != nil {
			_, _, _ = n.c.HTTP(http.MethodPost, "http://"+l.Addr+"/api/v1", updateWeight("web", float64(1+n.r.IntN(5))))
		}
	}
}

// Faults composed at random, for -duration (30 s in the suite, 60 s under
// make faults; run it for 5 minutes with -duration 5m), then healed; the
// checker must find nothing. A failure prints the seed to replay it.
func TestNemesis(t *testing.T) {
	d := *duration
	if d == 0 {
		d = 30 * time.Second
		if long() {
			d = 60 * time.Second
		}
	}
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 3, Agents: 4, Identity: identity}))
	n := &nemesis{t: t, c: c, r: rng(t), steps: map[string]int{}}
	n.fleet = runningFleet(t, c, 8)
	n.next = 8
	n.pets = startPets(c)
	n.pets.call(t, http.MethodPost, "/v1/petsets", petSpec(1), http.StatusCreated)
	n.pets.ready(t, "kv", 3, 0, 90*time.Second)

	menu := n.faults()
	var names []string
	for name := range menu {
		names = append(names, name)
	}
	slices.Sort(names) // the seed alone decides the order
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		name := names[n.r.IntN(len(names))]
		n.steps[name]++
		heal := menu[name]()
		n.work()
		hold(n.r, time.Second, 5*time.Second)
		heal()
		hold(n.r, 500*time.Millisecond, 2*time.Second)
	}
	t.Logf("nemesis: %v of faults: %v", d, n.steps)

	c.Heal()
	for _, group := range [][]*cluster.Node{c.ZooKeepers, c.Masters, c.Agents, {n.pets.node}} {
		for _, node := range group {
			if !node.Running() {
				c.Restart(node)
			}
		}
	}
	c.WaitZooKeeper(c.ZooKeepers...)
	c.WaitFor(90*time.Second, "a leader", func() bool { return c.Leader() != nil })
	c.WaitAgents(len(c.Agents), 90*time.Second)
	n.pets.ready(t, "kv", 3, 0, 120*time.Second)
	c.Settle(n.fleet, 120*time.Second)
	n.pets.final(t, "kv")
	finish(t, c)
}
