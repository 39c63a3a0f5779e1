// Package disk holds disk/du (Mesos' posix/disk): every Interval it
// measures what a container's sandbox occupies on disk (blocks, not
// apparent sizes; links are not followed, so volumes count as volumes)
// and, with Enforce, reports a container over its disk as a disk
// limitation, which the containerizer kills it for (TASK_FAILED,
// REASON_CONTAINER_LIMITATION_DISK).
package disk

import (
	"context"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-sched/corral/internal/periodic"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// DU is disk/du.
type DU struct {
	Interval time.Duration
	Enforce  bool

	mu   sync.Mutex
	used map[string]uint64 // guarded by mu; container ID → bytes at the last measure
}

var (
	_ isolators.Isolator = (*DU)(nil)
	_ isolators.Watcher  = (*DU)(nil)
	_ isolators.Usager   = (*DU)(nil)
	_ isolators.Cleaner  = (*DU)(nil)
)

// Name is Mesos' name.
func (*DU) Name() string { return "disk/du" }

// Prepare has nothing to add.
func (*DU) Prepare(context.Context, *isolators.Container, *isolators.Launch) error { return nil }

// Watch measures the sandbox until ctx ends, and reports the first
// measure over the container's disk when enforcing.
func (d *DU) Watch(ctx context.Context, c *isolators.Container) <-chan isolators.Limitation {
	ch := make(chan isolators.Limitation, 1)
	go func() {
		defer close(ch)
		periodic.Every(ctx, d.Interval, func() bool {
			used := Usage(c.Sandbox)
			d.mu.Lock()
			if d.used == nil {
				d.used = make(map[string]uint64)
			}
			d.used[c.ID] = used
			d.mu.Unlock()
			if d.Enforce && c.Limits.DiskBytes > 0 && used > uint64(c.Limits.DiskBytes) {
				ch <- isolators.Limitation{Resource: "disk", Reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK,
					Message: "Disk quota exceeded: the sandbox uses " + mib(used) + " MiB of its " + mib(uint64(c.Limits.DiskBytes)) + " MiB"}
				return false
			}
			return true
		})
	}()
	return ch
}

// Usage is the sandbox's size at the last measure.
func (d *DU) Usage(_ context.Context, c *isolators.Container) (isolators.Usage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return isolators.Usage{DiskBytes: d.used[c.ID]}, nil
}

// Cleanup forgets the container's measure.
func (d *DU) Cleanup(_ context.Context, c *isolators.Container) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.used, c.ID)
	return nil
}

// Usage sums the blocks of every file under dir, without following links.
func Usage(dir string) uint64 {
	var total uint64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += uint64(st.Blocks) * 512
		}
		return nil
	})
	return total
}

func mib(b uint64) string {
	s := strconv.FormatFloat(float64(b)/(1<<20), 'f', 3, 64)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}
