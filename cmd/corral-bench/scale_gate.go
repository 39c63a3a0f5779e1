package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/corral-sched/corral/agent"
)

// fleetGate holds a fleet's agents before their first registration until
// it opens, so that a run measures registrations alone. Starting 10,000
// simulated agents in a process (work dirs, checkpoint logs, recovery)
// takes seconds of CPU; overlapping the first registrations, it starved
// the master whose handling of them was being measured, which a cluster's
// agents, each on a machine of its own, never do.
type fleetGate struct {
	master  string
	open    chan struct{}
	opened  sync.Once
	arrived atomic.Int64 // agents that finished starting and wait at the gate
}

func newFleetGate(master string) *fleetGate {
	return &fleetGate{master: master, open: make(chan struct{})}
}

// release lets every agent register, those still starting as they come.
func (g *fleetGate) release() { g.opened.Do(func() { close(g.open) }) }

// waiting is how many agents have reached the gate.
func (g *fleetGate) waiting() int { return int(g.arrived.Load()) }

// detector is the gate as one agent's Detector: it names the master once
// the gate is open.
func (g *fleetGate) detector() agent.Detector { return &gatedAgent{gate: g} }

type gatedAgent struct {
	gate    *fleetGate
	arrived bool // only its agent's Run goroutine calls Leader
}

func (d *gatedAgent) Leader(ctx context.Context) (string, error) {
	if !d.arrived {
		d.arrived = true
		d.gate.arrived.Add(1)
	}
	select {
	case <-d.gate.open:
		return d.gate.master, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
