package cgroups

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// fakeTree lays out a container's cgroup files as the kernel would, under
// a temporary root: v1 with a directory per controller, v2 with one.
func fakeTree(t *testing.T, v2 bool, files map[string]string) Options {
	t.Helper()
	opts := Options{Parent: "/corral", Root: t.TempDir(), V2: v2, CFS: true}
	h := NewHierarchy(opts)
	for name, content := range files {
		controller, file, _ := strings.Cut(name, "/")
		dir := h.Dir(controller, "c1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return opts
}

func readFile(t *testing.T, opts Options, controller, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(NewHierarchy(opts).Dir(controller, "c1"), file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepareSetsTheLimits(t *testing.T) {
	opts := Options{Parent: "/corral", CFS: true, PidsLimit: 64}
	c := &isolators.Container{ID: "c1", Limits: isolators.Limits{CPUs: 0.5, MemBytes: 64 << 20}}
	var l isolators.Launch
	for _, iso := range []isolators.Isolator{NewCPU(opts), NewMemory(opts), NewPids(opts), Devices{}} {
		if err := iso.Prepare(context.Background(), c, &l); err != nil {
			t.Fatalf("%s: %v", iso.Name(), err)
		}
	}
	want := isolators.Cgroups{CPUShares: 512, CPUQuota: 50_000, CPUPeriod: 100_000, Memory: 64 << 20, MemorySwap: 64 << 20, PidsLimit: 64, Devices: true}
	if l.Cgroups == nil || *l.Cgroups != want {
		t.Fatalf("Cgroups = %+v, want %+v", l.Cgroups, want)
	}
	// No cpus or memory asked: no limit set (a container may still get
	// cgroups of its own for pids or devices).
	var none isolators.Launch
	_ = NewCPU(Options{}).Prepare(context.Background(), &isolators.Container{}, &none)
	_ = NewMemory(Options{}).Prepare(context.Background(), &isolators.Container{}, &none)
	if none.Cgroups != nil {
		t.Fatalf("limits set without resources: %+v", none.Cgroups)
	}
}

func TestOOMOnBothVersions(t *testing.T) {
	for _, c := range []struct {
		name  string
		v2    bool
		files map[string]string
		want  bool
	}{
		{"v1 killed", false, map[string]string{"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"}, true},
		{"v1 calm", false, map[string]string{"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"}, false},
		// v1 must read memory.oom_control, never v2's file.
		{"v1 with only a v2 file", false, map[string]string{"memory/memory.events": "oom 1\noom_kill 1\n"}, false},
		{"v2 killed", true, map[string]string{"/memory.events": "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n"}, true},
		{"v2 calm", true, map[string]string{"/memory.events": "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\noom_group_kill 0\n"}, false},
		{"v2 cgroup gone", true, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMemory(fakeTree(t, c.v2, c.files))
			got := m.Exited(&isolators.Container{ID: "c1"})
			if (got != nil) != c.want {
				t.Fatalf("Exited = %+v, want a limitation: %v", got, c.want)
			}
			if got != nil && (got.Reason != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || got.Resource != "mem") {
				t.Fatalf("limitation %+v", got)
			}
		})
	}
}

func TestUsageOnBothVersions(t *testing.T) {
	ctx := context.Background()
	c := &isolators.Container{ID: "c1"}
	v1 := fakeTree(t, false, map[string]string{
		"cpuacct/cpuacct.usage": "2500000000\n",
		"memory/memory.stat":    "cache 4096\nrss 1048576\ntotal_cache 8192\ntotal_rss 2097152\n",
		"pids/pids.current":     "7\n",
	})
	v2 := fakeTree(t, true, map[string]string{
		"/cpu.stat":     "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		"/memory.stat":  "anon 3145728\nfile 4096\n",
		"/pids.current": "3\n",
	})
	for _, c2 := range []struct {
		opts  Options
		cpu   float64
		mem   uint64
		procs int
		name  string
	}{{v1, 2.5, 2097152, 7, "v1"}, {v2, 1.5, 3145728, 3, "v2"}} {
		cpu, err1 := NewCPU(c2.opts).Usage(ctx, c)
		mem, err2 := NewMemory(c2.opts).Usage(ctx, c)
		pids, err3 := NewPids(c2.opts).Usage(ctx, c)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("%s: %v %v %v", c2.name, err1, err2, err3)
		}
		if cpu.CPUSeconds != c2.cpu || mem.MemoryBytes != c2.mem || pids.Processes != c2.procs {
			t.Fatalf("%s: cpu %v mem %v procs %v", c2.name, cpu.CPUSeconds, mem.MemoryBytes, pids.Processes)
		}
	}
}

func TestUpdateWritesTheNewLimits(t *testing.T) {
	ctx := context.Background()
	c := &isolators.Container{ID: "c1", Limits: isolators.Limits{CPUs: 1.5, MemBytes: 256 << 20}}
	v1 := fakeTree(t, false, map[string]string{
		"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "50000",
		"memory/memory.limit_in_bytes": "67108864", "memory/memory.memsw.limit_in_bytes": "67108864",
	})
	for _, u := range []isolators.Updater{NewCPU(v1), NewMemory(v1)} {
		if err := u.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for file, want := range map[string]string{"cpu/cpu.shares": "1536", "cpu/cpu.cfs_quota_us": "150000",
		"memory/memory.limit_in_bytes": "268435456", "memory/memory.memsw.limit_in_bytes": "268435456"} {
		controller, name, _ := strings.Cut(file, "/")
		if got := readFile(t, v1, controller, name); got != want {
			t.Errorf("v1 %s = %q, want %q", file, got, want)
		}
	}
	v2 := fakeTree(t, true, map[string]string{"/cpu.weight": "20", "/cpu.max": "50000 100000", "/memory.max": "67108864", "/memory.swap.max": "max"})
	for _, u := range []isolators.Updater{NewCPU(v2), NewMemory(v2)} {
		if err := u.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for file, want := range map[string]string{"cpu.weight": "59", "cpu.max": "150000 100000", "memory.max": "268435456", "memory.swap.max": "0"} {
		if got := readFile(t, v2, "", file); got != want {
			t.Errorf("v2 %s = %q, want %q", file, got, want)
		}
	}
	// A container that is gone: the error names the file.
	if err := NewMemory(v2).Update(ctx, &isolators.Container{ID: "gone", Limits: c.Limits}); err == nil || !strings.Contains(err.Error(), "memory.max") {
		t.Fatalf("update of a missing cgroup: %v", err)
	}
}

func TestWeightMatchesRunc(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 0: 1, 1 << 30: 10000} {
		if got := weight(shares); got != want {
			t.Errorf("weight(%d) = %d, want %d", shares, got, want)
		}
	}
}
