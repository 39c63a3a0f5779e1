package cgroups

import (
	"context"
	"strconv"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Memory is cgroups/mem: a hard limit of the container's mem, swap
// included; the kernel's OOM killer acting inside the container is a
// memory limitation (TASK_FAILED, REASON_CONTAINER_LIMITATION_MEMORY).
type Memory struct{ h Hierarchy }

var (
	_ isolators.Isolator    = (*Memory)(nil)
	_ isolators.ExitChecker = (*Memory)(nil)
	_ isolators.Usager      = (*Memory)(nil)
	_ isolators.Updater     = (*Memory)(nil)
)

// NewMemory returns cgroups/mem.
func NewMemory(opts Options) *Memory { return &Memory{h: NewHierarchy(opts)} }

// Name is Mesos' name.
func (*Memory) Name() string { return "cgroups/mem" }

// Prepare sets the container's memory limit.
func (i *Memory) Prepare(_ context.Context, c *isolators.Container, l *isolators.Launch) error {
	if c.Limits.MemBytes > 0 {
		cg := ensure(l)
		cg.Memory, cg.MemorySwap = c.Limits.MemBytes, c.Limits.MemBytes
	}
	return nil
}

// Exited reports an OOM kill from the cgroup's own count, which the
// kernel raises before the killed process is gone: on v1 memory.oom_control's
// oom_kill, on v2 memory.events' oom_kill. (runc's notification channel
// is not used: on v2 it is closed when the cgroup empties, which every
// exit does.)
func (i *Memory) Exited(c *isolators.Container) *isolators.Limitation {
	if n, err := i.oomKills(c.ID); err != nil || n == 0 {
		return nil
	}
	return &isolators.Limitation{Resource: "mem", Reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY,
		Message: "Memory limit exceeded: the container was OOM-killed"}
}

func (i *Memory) oomKills(id string) (uint64, error) {
	if i.h.V2() {
		return key(i.h.Dir("", id), "memory.events", "oom_kill")
	}
	return key(i.h.Dir("memory", id), "memory.oom_control", "oom_kill")
}

// Usage reads the container's resident anonymous memory.
func (i *Memory) Usage(_ context.Context, c *isolators.Container) (isolators.Usage, error) {
	if i.h.V2() {
		anon, err := key(i.h.Dir("", c.ID), "memory.stat", "anon")
		return isolators.Usage{MemoryBytes: anon}, err
	}
	rss, err := key(i.h.Dir("memory", c.ID), "memory.stat", "total_rss")
	return isolators.Usage{MemoryBytes: rss}, err
}

// Update writes the container's new memory limit. On v1 the limit can
// never exceed memory+swap's, so the two are written in the order that
// keeps it so.
func (i *Memory) Update(_ context.Context, c *isolators.Container) error {
	if c.Limits.MemBytes <= 0 {
		return nil
	}
	limit := strconv.FormatInt(c.Limits.MemBytes, 10)
	if i.h.V2() {
		dir := i.h.Dir("", c.ID)
		if err := write(dir, "memory.max", limit); err != nil {
			return err
		}
		if exists(dir, "memory.swap.max") {
			return write(dir, "memory.swap.max", "0") // v2 counts swap apart: none beyond the limit
		}
		return nil
	}
	dir := i.h.Dir("memory", c.ID)
	files := []string{"memory.limit_in_bytes"}
	if exists(dir, "memory.memsw.limit_in_bytes") {
		current, err := readUint(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		if c.Limits.MemBytes > int64(current) {
			files = []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"}
		} else {
			files = append(files, "memory.memsw.limit_in_bytes")
		}
	}
	for _, f := range files {
		if err := write(dir, f, limit); err != nil {
			return err
		}
	}
	return nil
}
