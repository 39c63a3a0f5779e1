package cgroups

import (
	"context"
	"strconv"

	"github.com/corral-sched/corral/isolators"
)

// cfsPeriod is the CFS period quotas are expressed in, µs.
const cfsPeriod = 100_000

// CPU is cgroups/cpu: cpu shares in proportion to the container's cpus,
// and with CFS a hard quota of cpus × the period.
type CPU struct {
	h   Hierarchy
	cfs bool
}

var (
	_ isolators.Isolator = (*CPU)(nil)
	_ isolators.Usager   = (*CPU)(nil)
	_ isolators.Updater  = (*CPU)(nil)
)

// NewCPU returns cgroups/cpu.
func NewCPU(opts Options) *CPU { return &CPU{h: NewHierarchy(opts), cfs: opts.CFS} }

// Name is Mesos' name.
func (*CPU) Name() string { return "cgroups/cpu" }

// Prepare sets the container's cpu limits.
func (i *CPU) Prepare(_ context.Context, c *isolators.Container, l *isolators.Launch) error {
	if c.Limits.CPUs <= 0 {
		return nil
	}
	cg := ensure(l)
	cg.CPUShares = shares(c.Limits.CPUs)
	if i.cfs {
		cg.CPUPeriod, cg.CPUQuota = cfsPeriod, quota(c.Limits.CPUs)
	}
	return nil
}

func shares(cpus float64) uint64 { return uint64(max(cpus*1024, 2)) }
func quota(cpus float64) int64   { return int64(max(cpus*cfsPeriod, 1000)) }

// Usage reads the cpu time the container's cgroup has used.
func (i *CPU) Usage(_ context.Context, c *isolators.Container) (isolators.Usage, error) {
	if i.h.V2() {
		usec, err := key(i.h.Dir("", c.ID), "cpu.stat", "usage_usec")
		return isolators.Usage{CPUSeconds: float64(usec) / 1e6}, err
	}
	ns, err := readUint(i.h.Dir("cpuacct", c.ID), "cpuacct.usage")
	return isolators.Usage{CPUSeconds: float64(ns) / 1e9}, err
}

// Update writes the container's new cpu limits.
func (i *CPU) Update(_ context.Context, c *isolators.Container) error {
	if c.Limits.CPUs <= 0 {
		return nil
	}
	s, q := shares(c.Limits.CPUs), quota(c.Limits.CPUs)
	if i.h.V2() {
		dir := i.h.Dir("", c.ID)
		if err := write(dir, "cpu.weight", strconv.FormatUint(weight(s), 10)); err != nil {
			return err
		}
		if i.cfs {
			return write(dir, "cpu.max", strconv.FormatInt(q, 10)+" "+strconv.Itoa(cfsPeriod))
		}
		return nil
	}
	dir := i.h.Dir("cpu", c.ID)
	if err := write(dir, "cpu.shares", strconv.FormatUint(s, 10)); err != nil {
		return err
	}
	if i.cfs {
		return write(dir, "cpu.cfs_quota_us", strconv.FormatInt(q, 10))
	}
	return nil
}

// weight maps v1 cpu shares [2, 262144] onto v2's cpu.weight [1, 10000],
// as runc does, so a container gets the same share on either.
func weight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}
