package cgroups

import (
	"context"

	"github.com/corral-sched/corral/isolators"
)

// Pids is cgroups/pids: at most Options.PidsLimit processes per
// container, so that a fork bomb stays inside its container.
type Pids struct {
	h     Hierarchy
	limit int64
}

var (
	_ isolators.Isolator = (*Pids)(nil)
	_ isolators.Usager   = (*Pids)(nil)
)

// NewPids returns cgroups/pids.
func NewPids(opts Options) *Pids { return &Pids{h: NewHierarchy(opts), limit: opts.PidsLimit} }

// Name is Mesos' name.
func (*Pids) Name() string { return "cgroups/pids" }

// Prepare caps the container's processes.
func (i *Pids) Prepare(_ context.Context, _ *isolators.Container, l *isolators.Launch) error {
	if i.limit > 0 {
		ensure(l).PidsLimit = i.limit
	}
	return nil
}

// Usage counts the container's processes.
func (i *Pids) Usage(_ context.Context, c *isolators.Container) (isolators.Usage, error) {
	n, err := readUint(i.h.Dir("pids", c.ID), "pids.current")
	return isolators.Usage{Processes: int(n)}, err
}

// Devices is cgroups/devices: the container may use only the devices of
// the default allow-list (null, zero, full, random, urandom, tty, the
// pty master and slaves).
type Devices struct{}

var _ isolators.Isolator = Devices{}

// Name is Mesos' name.
func (Devices) Name() string { return "cgroups/devices" }

// Prepare restricts the container's devices.
func (Devices) Prepare(_ context.Context, _ *isolators.Container, l *isolators.Launch) error {
	ensure(l).Devices = true
	return nil
}
