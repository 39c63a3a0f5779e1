// Package isolators defines how an agent contains a task: a container is
// made by a launcher and a list of isolators applied in order. Each
// isolator owns one kind of limit (cpu shares, memory, pids, namespaces,
// volumes) and takes part in a container's whole life: it prepares before
// the process starts, isolates the started process, updates limits,
// reports usage, and cleans up after the process is gone. After an agent
// restart, Recover hands each isolator the containers that survived.
//
// The posix isolator here works everywhere (no root, no cgroups) and only
// measures; the linux isolators built on libcontainer enforce limits.
package isolators

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Container is what isolators know of a container.
type Container struct {
	ID      string
	Sandbox string
	// Limits from the task's resources.
	CPUs     float64
	MemoryMB float64
	Pid      int // 0 until the process is started
}

// Usage is a container's resource use.
type Usage struct {
	CPUSeconds  float64
	MemoryBytes uint64
	Processes   int
}

// Isolator is one kind of containment.
type Isolator interface {
	// Name identifies the isolator in flags and logs.
	Name() string
	// Recover re-attaches to containers that outlived an agent restart.
	Recover(ctx context.Context, containers []Container) error
	// Prepare runs before the container's process exists.
	Prepare(ctx context.Context, c Container) error
	// Isolate runs once the process has started (c.Pid is set).
	Isolate(ctx context.Context, c Container) error
	// Update changes the container's limits.
	Update(ctx context.Context, c Container) error
	// Usage reports what the container uses now.
	Usage(ctx context.Context, c Container) (Usage, error)
	// Cleanup runs after the process and all its children are gone.
	Cleanup(ctx context.Context, c Container) error
}

// Factory makes an isolator.
type Factory func() (Isolator, error)

// Registry maps isolator names to factories.
var Registry = map[string]Factory{
	"posix": func() (Isolator, error) { return &posix{}, nil },
}

// New returns the isolators named, in order.
func New(names ...string) ([]Isolator, error) {
	out := make([]Isolator, 0, len(names))
	for _, n := range names {
		f, ok := Registry[n]
		if !ok {
			return nil, fmt.Errorf("isolators: unknown isolator %q", n)
		}
		iso, err := f()
		if err != nil {
			return nil, fmt.Errorf("isolators: %s: %w", n, err)
		}
		out = append(out, iso)
	}
	return out, nil
}

// posix contains nothing; it measures a container's main process from
// /proc, which is all that can be done without privileges.
type posix struct{}

var _ Isolator = (*posix)(nil)

func (*posix) Name() string                                        { return "posix" }
func (*posix) Recover(context.Context, []Container) error          { return nil }
func (*posix) Prepare(context.Context, Container) error            { return nil }
func (*posix) Isolate(context.Context, Container) error            { return nil }
func (*posix) Update(context.Context, Container) error             { return nil }
func (*posix) Cleanup(context.Context, Container) error            { return nil }
func (*posix) Usage(_ context.Context, c Container) (Usage, error) { return procUsage(c.Pid) }

// procUsage sums the CPU time and resident memory of a task: the process
// group pid leads (the task runs in a group of its own, under the
// exit-status wrapper), or, if the group is gone, pid alone.
func procUsage(pid int) (Usage, error) {
	if pid <= 0 {
		return Usage{}, nil
	}
	var total Usage
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil {
			continue
		}
		if pgrp, _ := strconv.Atoi(f[2]); pgrp != pid && p != pid {
			continue
		}
		total = total.add(usageOf(f))
	}
	if total.Processes == 0 {
		return Usage{}, fmt.Errorf("isolators: reading usage of pid %d: no such process", pid)
	}
	return total, nil
}

// statFields returns the fields of /proc/pid/stat after the command name
// (which may contain spaces): state is [0], pgrp [2].
func statFields(pid int) ([]string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("isolators: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return nil, fmt.Errorf("isolators: short /proc/%d/stat", pid)
	}
	return f, nil
}

func usageOf(f []string) Usage {
	const ticks = 100 // USER_HZ on Linux
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	rss, _ := strconv.ParseUint(f[21], 10, 64)
	return Usage{CPUSeconds: float64(utime+stime) / ticks, MemoryBytes: rss * uint64(os.Getpagesize()), Processes: 1}
}

func (u Usage) add(o Usage) Usage {
	return Usage{CPUSeconds: u.CPUSeconds + o.CPUSeconds, MemoryBytes: u.MemoryBytes + o.MemoryBytes, Processes: u.Processes + o.Processes}
}
