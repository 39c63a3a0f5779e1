// Package posix holds posix/cpu and posix/mem, which measure a container
// without any privilege: the cpu time and resident memory of its process
// group, from /proc. They enforce nothing; that takes cgroups.
package posix

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/isolators"
)

// Isolator is posix/cpu or posix/mem.
type Isolator struct{ cpu bool }

var (
	_ isolators.Isolator = Isolator{}
	_ isolators.Usager   = Isolator{}
)

// NewCPU returns posix/cpu.
func NewCPU() Isolator { return Isolator{cpu: true} }

// NewMem returns posix/mem.
func NewMem() Isolator { return Isolator{} }

// Name is Mesos' name.
func (i Isolator) Name() string {
	if i.cpu {
		return "posix/cpu"
	}
	return "posix/mem"
}

// Prepare has nothing to add: a posix container is a process group.
func (Isolator) Prepare(context.Context, *isolators.Container, *isolators.Launch) error { return nil }

// Usage measures the container's process group: its cpu time (posix/cpu)
// or resident memory and processes (posix/mem).
func (i Isolator) Usage(_ context.Context, c *isolators.Container) (isolators.Usage, error) {
	u, err := ProcessGroup(c.Pid)
	if err != nil {
		return isolators.Usage{}, err
	}
	if i.cpu {
		return isolators.Usage{CPUSeconds: u.CPUSeconds}, nil
	}
	return isolators.Usage{MemoryBytes: u.MemoryBytes, Processes: u.Processes}, nil
}

// ProcessGroup sums the cpu time and resident memory of the process group
// pid leads (a task runs in a group of its own), or of pid alone when the
// group is gone.
func ProcessGroup(pid int) (isolators.Usage, error) {
	if pid <= 0 {
		return isolators.Usage{}, nil
	}
	var total isolators.Usage
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
		total = total.Add(usageOf(f))
	}
	if total.Processes == 0 {
		return isolators.Usage{}, fmt.Errorf("posix: reading usage of pid %d: no such process", pid)
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
		return nil, fmt.Errorf("posix: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return nil, fmt.Errorf("posix: short /proc/%d/stat", pid)
	}
	return f, nil
}

func usageOf(f []string) isolators.Usage {
	const ticks = 100 // USER_HZ on Linux
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	rss, _ := strconv.ParseUint(f[21], 10, 64)
	return isolators.Usage{CPUSeconds: float64(utime+stime) / ticks, MemoryBytes: rss * uint64(os.Getpagesize()), Processes: 1}
}
