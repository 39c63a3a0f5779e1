package disk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

func TestDUReportsASandboxOverItsDisk(t *testing.T) {
	sandbox := t.TempDir()
	if err := os.WriteFile(filepath.Join(sandbox, "big"), make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Symlink("/usr", filepath.Join(sandbox, "link")) // not followed
	d := &DU{Interval: 10 * time.Millisecond, Enforce: true}
	c := &isolators.Container{ID: "c1", Sandbox: sandbox, Limits: isolators.Limits{DiskBytes: 1 << 20}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	select {
	case l, ok := <-d.Watch(ctx, c):
		if !ok || l.Reason != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK || !strings.Contains(l.Message, "of its 1 MiB") {
			t.Fatalf("limitation %+v (open %v)", l, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no limitation for a 3 MiB sandbox with 1 MiB of disk")
	}
	u, _ := d.Usage(ctx, c)
	if u.DiskBytes < 3<<20 || u.DiskBytes > 4<<20 {
		t.Fatalf("usage %d bytes: want the 3 MiB file and not /usr", u.DiskBytes)
	}

	// Within its disk, or not enforcing: measured, never limited.
	for _, d := range []*DU{{Interval: 10 * time.Millisecond, Enforce: true}, {Interval: 10 * time.Millisecond}} {
		c := &isolators.Container{ID: "c2", Sandbox: sandbox, Limits: isolators.Limits{DiskBytes: 100 << 20}}
		if !d.Enforce {
			c.Limits.DiskBytes = 1
		}
		ctx, cancel := context.WithCancel(context.Background())
		ch := d.Watch(ctx, c)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if u, _ := d.Usage(ctx, c); u.DiskBytes > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("never measured")
			}
			time.Sleep(5 * time.Millisecond) // polling for the first measure
		}
		select {
		case l, ok := <-ch:
			if ok {
				t.Fatalf("limited: %+v (enforce %v)", l, d.Enforce)
			}
		default:
		}
		cancel()
		if _, ok := <-ch; ok {
			t.Fatal("the watch did not end with its context")
		}
	}
}
