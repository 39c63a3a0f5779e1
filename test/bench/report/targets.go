package main

import (
	"fmt"
	"strings"
)

// target is a figure corral must reach, the result it is read from and
// the outside figure it is anchored to.
type target struct {
	what   string
	anchor string
	result string // results file name
	// larger names a result of the same measure at a larger size, read
	// instead when it exists (a run with the big flags).
	larger string
	field  string // dotted JSON path
	// floors are the anchor's own figures, measured on this machine in
	// the target's unit; the anchor column shows them.
	floors []floor
	unit   string
	bound  float64
	atMost bool // the figure must be ≤ bound (else ≥)
	// scale names the JSON fields whose values say at what size the
	// figure was measured.
	scale []string
	// size is the size the target is set at: a figure measured smaller
	// meets it only provisionally.
	size map[string]float64
}

// floor is a figure of the anchor: field of result, called what.
type floor struct{ result, field, what string }

var targets = []target{
	{what: "simulated agents: task launches to TASK_RUNNING per second", result: "launch-sim", field: "tasks_per_second",
		unit: "tasks/s", bound: 5000, scale: []string{"tasks", "agents"},
		anchor: "Nomad's C1M: 3,750 containers/s on 5 servers and 5,000 hosts"},
	{what: "posix agents: tasks to TASK_RUNNING per second on 3 agents", result: "launch-posix", field: "tasks_per_second",
		unit: "tasks/s", bound: 500, scale: []string{"tasks", "agents"},
		anchor: "Nomad dev agent on this machine kind: 18 tasks/s"},
	{what: "posix agents: time to TASK_RUNNING over the bare spawning of the same processes in the same run", result: "launch-posix",
		field: "ratio_to_baseline", unit: "×", bound: 2, atMost: true, scale: []string{"tasks", "agents"},
		anchor: "the floor of this machine: os/exec with the same sandboxes"},
	{what: "linux agents: containers to TASK_RUNNING per second, 200 at once on 3 agents", result: "launch-linux", field: "tasks_per_second",
		unit: "tasks/s", bound: 150, scale: []string{"tasks", "agents"},
		anchor: "the same containers 8 at a time without corral",
		floors: []floor{{"launch-linux", "baseline_tasks_per_second", "Debian's `runc run -d`"},
			{"libcontainer-floor", "containers_per_second", "a Go program of libcontainer alone"}}},
	{what: "linux agents: ACCEPT → TASK_RUNNING p50 one at a time over `runc run` p50 of the same container in the same run", result: "launch-linux-serial",
		field: "ratio_to_runc_p50", unit: "×", bound: 1.3, atMost: true, scale: []string{"tasks"},
		anchor: "Debian's runc, the floor for a libcontainer container here"},
	{what: "service framework: a 1,000-instance app POSTed → all TASK_RUNNING, the slowest of its rounds", result: "service",
		field: "slowest_up_seconds", unit: "s", bound: 3, atMost: true, scale: []string{"instances", "agents"},
		anchor: "Marathon on Mesos: a 500-instance app in 14.18 s on 189 agents"},
	{what: "p99 ACCEPT → TASK_RUNNING at 10 launches/s (posix)", result: "launch-posix-rate10", field: "accept_to_running.p99_ms",
		unit: "ms", bound: 50, atMost: true, scale: []string{"tasks"},
		anchor: "Nomad dev agent on this machine kind: ≈ 250 ms submit → started"},
	{what: "master failover: every agent re-registered after the new leader is elected (target at 10,000 agents, 50,000 tasks)",
		result: "failover", larger: "failover-10k", field: "reregister_after_leader_seconds", unit: "s", bound: 15, atMost: true, scale: []string{"agents", "tasks"},
		size:   map[string]float64{"agents": 10000, "tasks": 50000},
		anchor: "Mesos gives agents its agent_reregister_timeout, 10 min by default"},
	// The 50,000-agent figures come from make bench-scale-big alone: the
	// standard set's scale runs keep the master in their process.
	{what: "simulated agents still connected after a minute of heartbeats (target at 50,000)", result: "scale-50k",
		field: "connected_after_hold", unit: "", bound: 50000, scale: []string{"agents"},
		size:   map[string]float64{"agents": 50000},
		anchor: "Mesos' 50,000-agent scale tests"},
	{what: "master RSS after a minute of 50,000 agents' heartbeats", result: "scale-50k",
		field: "master_rss_after_hold_mb", unit: "MiB", bound: 2048, atMost: true, scale: []string{"agents"},
		size:   map[string]float64{"agents": 50000},
		anchor: "one machine of the control plane"},
	{what: "registration → first offer p99 (target at 50,000 agents)", result: "scale-5000", larger: "scale-50k",
		field: "registration_to_offer.p99_ms", unit: "ms", bound: 2000, atMost: true, scale: []string{"agents"},
		size:   map[string]float64{"agents": 50000},
		anchor: "Mesos allocates every second (allocation_interval)"},
}

func targetsSection(results map[string]result) string {
	var b strings.Builder
	b.WriteString("| target | anchor | measured | verdict |\n|---|---|---|---|\n")
	for _, t := range targets {
		cmp := "≥"
		if t.atMost {
			cmp = "≤"
		}
		what := fmt.Sprintf("%s %s %s", t.what, cmp, figure(t.bound, t.unit))
		r, ok := results[t.result]
		if big, found := results[t.larger]; found && t.larger != "" {
			r, ok = big, true
		}
		v, found := r.number(t.field)
		anchor := t.anchor
		var fs []string
		for _, f := range t.floors {
			if v, ok := results[f.result].number(f.field); ok {
				fs = append(fs, f.what+" "+figure(v, t.unit))
			}
		}
		if len(fs) > 0 {
			anchor += ": " + strings.Join(fs, "; ")
		}
		if !ok || !found {
			fmt.Fprintf(&b, "| %s | %s | not measured | — |\n", what, anchor)
			continue
		}
		var size []string
		for _, s := range t.scale {
			if n, ok := r.number(s); ok {
				size = append(size, fmt.Sprintf("%s %s", figure(n, ""), s))
			}
		}
		measured := figure(v, t.unit)
		if len(size) > 0 {
			measured += " (" + strings.Join(size, ", ") + ")"
		}
		v2 := verdict(v, t.bound, t.atMost, t.unit)
		var short []string
		for _, k := range t.scale {
			if want, ok := t.size[k]; ok {
				if n, _ := r.number(k); n < want {
					short = append(short, fmt.Sprintf("%s %s", figure(want, ""), k))
				}
			}
		}
		if len(short) > 0 {
			v2 += " at this size; not measured at the target's " + strings.Join(short, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", what, anchor, measured, v2)
	}
	return b.String()
}

// verdict says whether v meets the bound, and by how much it misses.
func verdict(v, bound float64, atMost bool, unit string) string {
	if (atMost && v <= bound) || (!atMost && v >= bound) {
		return "met"
	}
	gap := v - bound
	if gap < 0 {
		gap = -gap
	}
	ratio := v / bound
	if !atMost {
		ratio = bound / v
	}
	return fmt.Sprintf("**missed** by %s (%.1f×)", figure(gap, unit), ratio)
}

func figure(v float64, unit string) string {
	var s string
	switch {
	case v >= 100 || v == float64(int64(v)):
		s = commas(int64(v + 0.5))
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	if unit == "" {
		return s
	}
	return s + " " + unit
}

// commas writes n with thousands separators, as the rest of the document.
func commas(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
