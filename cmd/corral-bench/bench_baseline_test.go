package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leftovers lists the processes, from a scan of /proc, that a spawner
// left behind: any of pids still this process's child (unreaped), or any
// live process in one of their groups (a grandchild that escaped the
// kill). A zombie in such a group is dead, only not yet reaped by the
// init it was handed to.
func leftovers(t *testing.T, pids []int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) < 3 {
			t.Fatalf("/proc/%d/stat: %q", pid, b)
		}
		state := fields[0]
		ppid, _ := strconv.Atoi(fields[1])
		pgrp, _ := strconv.Atoi(fields[2])
		switch {
		case slices.Contains(pids, pid) && ppid == os.Getpid():
			left = append(left, "unreaped child "+e.Name())
		case slices.Contains(pids, pgrp) && state != "Z":
			left = append(left, "live process "+e.Name()+" in group "+fields[2])
		}
	}
	return left
}

// waitNoLeftovers polls until the spawner's processes are all gone.
func waitNoLeftovers(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := leftovers(t, pids)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%s still holds %v", dir, entries)
	}
}

func TestSpawnBaselineStartsAndReapsEveryProcess(t *testing.T) {
	dir := t.TempDir()
	// Two commands make the shell fork sleep: killing the shell alone
	// would leave the sleeps behind.
	r, err := spawnBaseline(context.Background(), spawnOptions{N: 24, Command: "sleep 120; true", Workers: 3, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.Started != 24 || len(r.pids) != 24 || r.Elapsed <= 0 {
		t.Fatalf("started %d, pids %v, elapsed %v; want 24 and 24 pids", r.Started, r.pids, r.Elapsed)
	}
	distinct := slices.Clone(r.pids)
	slices.Sort(distinct)
	if len(slices.Compact(distinct)) != 24 || slices.Contains(distinct, 0) {
		t.Fatalf("pids %v: want 24 distinct", r.pids)
	}
	waitNoLeftovers(t, r.pids)
	if _, err := os.Stat(r.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary dir %s: %v, want it removed", r.dir, err)
	}
	emptyDir(t, dir)
}

func TestSpawnBaselineStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := spawnBaseline(ctx, spawnOptions{N: 10, Command: "sleep 120", Dir: dir})
	if !errors.Is(err, context.Canceled) || r.Started != 0 {
		t.Fatalf("started %d, err %v; want none started and context.Canceled", r.Started, err)
	}
	emptyDir(t, dir)
}

func TestSpawnBaselineRejectsBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for name, o := range map[string]spawnOptions{
		"no processes": {N: 0, Command: "true"},
		"no command":   {N: 1},
		"no such dir":  {N: 1, Command: "true", Dir: missing},
	} {
		if r, err := spawnBaseline(context.Background(), o); err == nil || r.Started != 0 {
			t.Errorf("%s: started %d, err %v; want an error and nothing started", name, r.Started, err)
		}
	}
}

func TestEditSpecMakesTheBaselineContainer(t *testing.T) {
	var spec map[string]any
	if err := json.Unmarshal([]byte(`{"process":{"terminal":true,"args":["sh"]},"root":{"path":"rootfs"},
		"mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
		"linux":{"namespaces":[{"type":"pid"},{"type":"network"},{"type":"mount"}]}}`), &spec); err != nil {
		t.Fatal(err)
	}
	if err := editSpec(spec, []string{"/bin/true"}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(spec)
	var got struct {
		Process struct {
			Terminal bool
			Args     []string
		}
		Root struct {
			Path     string
			Readonly bool
		}
		Mounts []struct{ Destination, Type, Source string }
		Linux  struct{ Namespaces []struct{ Type string } }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var ns, mounts []string
	for _, n := range got.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	for _, m := range got.Mounts {
		mounts = append(mounts, m.Type+":"+m.Source+"→"+m.Destination)
	}
	if got.Process.Terminal || !slices.Equal(got.Process.Args, []string{"/bin/true"}) || got.Root.Path != "rootfs" || !got.Root.Readonly ||
		!slices.Equal(ns, []string{"pid", "mount"}) || !slices.Equal(mounts, []string{"proc:proc→/proc", "bind:/usr→/usr", "bind:/etc→/etc"}) {
		t.Fatalf("edited spec %s", b)
	}
	if err := editSpec(map[string]any{"process": "sh"}, []string{"/bin/true"}); err == nil {
		t.Fatal("a spec of another shape was edited")
	}
}

// needRunc skips a test where runc cannot run, and fails it in CI, which
// installs Debian's runc and runs as root.
func needRunc(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("runc"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs runc on PATH (Debian's runc) and root; CI installs both")
		}
		t.Skip("needs runc on PATH and root")
	}
}

func TestRuncBaselineRunsContainersAndCleansUp(t *testing.T) {
	needRunc(t)
	dir := t.TempDir()
	l, err := runcBaseline(context.Background(), 3, dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Count != 3 || !(0 < l.P50 && l.P50 <= l.Max) {
		t.Fatalf("latency %+v, want 3 runs", l)
	}
	emptyDir(t, dir)
}

func TestRuncDetachedBaselineStartsEveryContainerAndDeletesIt(t *testing.T) {
	needRunc(t)
	dir := t.TempDir()
	// A duration no other process on the machine sleeps, to find them by.
	arg := fmt.Sprintf("%d.%d", 3000+os.Getpid()%500, time.Now().Nanosecond()%1000)
	running := func() int {
		n := 0
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && string(b) == "sleep\x00"+arg+"\x00" {
				n++
			}
		}
		return n
	}
	r, err := runcDetachedBaseline(context.Background(), 4, 2, "exec sleep "+arg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Started != 4 || r.Elapsed <= 0 {
		t.Fatalf("started %d in %v, want 4 in some time", r.Started, r.Elapsed)
	}
	if n := running(); n != 0 {
		t.Fatalf("%d of the containers' commands still run after the baseline", n)
	}
	emptyDir(t, dir)

	if _, err := runcDetachedBaseline(context.Background(), 1, 0, "true", dir); err == nil {
		t.Fatal("no workers: want an error")
	}
	if r, err := runcDetachedBaseline(context.Background(), 1, 1, "true", filepath.Join(dir, "missing")); err == nil || r.Started != 0 {
		t.Fatalf("no such dir: started %d, err %v; want an error and nothing started", r.Started, err)
	}
}

func TestBenchLaunchPosixReportsTheBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("forks real tasks")
	}
	var m map[string]any
	table := runBench(t, &m, "launch", "--isolation", "posix", "--tasks", "6", "--agents", "1", "--timeout", "60s")
	num := func(k string) float64 {
		v, ok := m[k].(float64)
		if !ok || v <= 0 {
			t.Fatalf("%s = %v in %v, want a positive number", k, m[k], m)
		}
		return v
	}
	secs, base, ratio := num("seconds"), num("baseline_seconds"), num("ratio_to_baseline")
	num("baseline_tasks_per_second")
	num("baseline_workers")
	if math.Abs(ratio-secs/base) > 1e-9*ratio {
		t.Fatalf("ratio_to_baseline %v, want seconds/baseline_seconds = %v", ratio, secs/base)
	}
	if _, ok := m["baseline_skipped"]; ok || !strings.Contains(table, "corral took") {
		t.Fatalf("result %v, table:\n%s", m, table)
	}
}

func TestBenchLaunchWithoutABaseline(t *testing.T) {
	for _, args := range [][]string{
		{"--isolation", "sim"}, // simulated agents fork nothing: no floor to compare
		{"--isolation", "posix", "--baseline=false"},
	} {
		if testing.Short() && args[1] == "posix" {
			continue
		}
		var m map[string]any
		table := runBench(t, &m, append([]string{"launch", "--tasks", "4", "--agents", "1", "--timeout", "60s"}, args...)...)
		for k := range m {
			if strings.Contains(k, "baseline") || strings.Contains(k, "runc") {
				t.Errorf("%v: result carries %s: %v", args, k, m)
			}
		}
		if strings.Contains(table, "aseline") {
			t.Errorf("%v: table speaks of a baseline:\n%s", args, table)
		}
	}
}
