package main

import (
	"strings"
	"testing"
)

const doc = `# Performance

History stays.

<!-- bench:machine -->
old machine
<!-- /bench -->

## Launch

<!-- bench:launch-sim -->
| old | table |
<!-- /bench -->

<!-- bench:not-run -->
kept as it was
<!-- /bench -->
tail
`

func TestRewriteReplacesOnlyMarkedBodies(t *testing.T) {
	got, err := rewrite(doc, map[string]string{"machine": "new machine", "launch-sim": "| new | table |\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(doc, "old machine\n", "new machine\n", 1), "| old | table |\n", "| new | table |\n", 1)
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	again, err := rewrite(got, map[string]string{"machine": "new machine", "launch-sim": "| new | table |\n"})
	if err != nil || again != got {
		t.Fatalf("rewriting twice changed the document (%v):\n%s", err, again)
	}
}

func TestRewriteRefusesBrokenMarkers(t *testing.T) {
	for name, tc := range map[string]struct {
		doc      string
		sections map[string]string
		want     string
	}{
		"unclosed":       {"<!-- bench:a -->\nx\n", nil, "not closed"},
		"nested":         {"<!-- bench:a -->\n<!-- bench:b -->\n<!-- /bench -->\n", nil, "opened inside"},
		"stray close":    {"x\n<!-- /bench -->\n", nil, "without an opening"},
		"twice":          {"<!-- bench:a -->\n<!-- /bench -->\n<!-- bench:a -->\n<!-- /bench -->\n", nil, "second section"},
		"result nowhere": {"<!-- bench:a -->\n<!-- /bench -->\n", map[string]string{"b": "x"}, "no section for b"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rewrite(tc.doc, tc.sections)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseScenarioAndMicroResults(t *testing.T) {
	r, err := parseResult("$ corral-bench launch --isolation sim\n{\"tasks_per_second\":6000,\"accept_to_running\":{\"p99_ms\":12.5}}\n\n| a | b |\n|---|---|\n")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.number("accept_to_running.p99_ms"); !ok || v != 12.5 {
		t.Fatalf("p99 = %v %v", v, ok)
	}
	if md := r.markdown(); !strings.HasPrefix(md, "Command: `corral-bench launch --isolation sim`\n\n| a | b |") {
		t.Fatalf("markdown:\n%s", md)
	}
	m, err := parseResult("$ go test -bench .\ngoos: linux\nBenchmarkAllocate/100-2   \t 1000\t  70000 ns/op\t 512 B/op\t 34 allocs/op\nPASS\n")
	if err != nil {
		t.Fatal(err)
	}
	if md := m.markdown(); !strings.Contains(md, "| BenchmarkAllocate/100-2 | 70.00 µs | 512 | 34 |") {
		t.Fatalf("markdown:\n%s", md)
	}
	if _, err := parseResult("no command line\n"); err == nil {
		t.Fatal("a result without its command was accepted")
	}
}

func TestTargetsSayMetOrByHowMuchMissed(t *testing.T) {
	results := map[string]result{
		"launch-sim":          {fields: map[string]any{"tasks_per_second": 2500.0, "tasks": 10000.0, "agents": 20.0}},
		"launch-posix-rate10": {fields: map[string]any{"accept_to_running": map[string]any{"p99_ms": 12.0}, "tasks": 100.0}},
		"failover":            {fields: map[string]any{"reregister_after_leader_seconds": 4.5, "agents": 1000.0, "tasks": 50000.0}},
		"launch-linux":        {fields: map[string]any{"tasks_per_second": 80.0, "baseline_tasks_per_second": 95.0, "tasks": 200.0, "agents": 3.0}},
		"libcontainer-floor":  {fields: map[string]any{"containers_per_second": 124.0}},
	}
	s := targetsSection(results)
	for _, want := range []string{
		"| 2,500 tasks/s (10,000 tasks, 20 agents) | **missed** by 2,500 tasks/s (2.0×) |",
		"| 12 ms (100 tasks) | met |",
		"| not measured | — |",
		"without corral: Debian's `runc run -d` 95 tasks/s; a Go program of libcontainer alone 124 tasks/s | 80 tasks/s (200 tasks, 3 agents) | **missed** by 70 tasks/s (1.9×) |",
		"| 4.50 s (1,000 agents, 50,000 tasks) | met at this size; not measured at the target's 10,000 agents |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("targets lack %q:\n%s", want, s)
		}
	}
	if !strings.Contains(s, "| master RSS after a minute of 50,000 agents' heartbeats ≤ 2,048 MiB | one machine of the control plane | not measured | — |") {
		t.Errorf("the 50,000-agent memory target without its run is not said to be unmeasured:\n%s", s)
	}
	results["scale-50k"] = result{fields: map[string]any{"master_rss_after_hold_mb": 1962.0, "connected_after_hold": 50000.0,
		"agents": 50000.0, "registration_to_offer": map[string]any{"p99_ms": 4164.0}}}
	s = targetsSection(results)
	for _, want := range []string{
		"| 50,000 (50,000 agents) | met |",
		"| 1,962 MiB (50,000 agents) | met |",
		"| 4,164 ms (50,000 agents) | **missed** by 2,164 ms (2.1×) |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("targets lack %q:\n%s", want, s)
		}
	}
	results["failover-10k"] = result{fields: map[string]any{"reregister_after_leader_seconds": 20.0, "agents": 10000.0, "tasks": 50000.0}}
	if s := targetsSection(results); !strings.Contains(s, "| 20 s (10,000 agents, 50,000 tasks) | **missed** by 5 s (1.3×) |") {
		t.Errorf("the larger failover run is not the one read:\n%s", s)
	}
}
