package agent

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Every DiskWatchInterval the agent measures each running task's sandbox
// (what it occupies on disk, not apparent sizes) and, with
// EnforceDiskQuota, kills a task over its disk (TASK_FAILED,
// REASON_CONTAINER_LIMITATION_DISK). The same pass garbage-collects the
// sandboxes of tasks that are over: after GCDelay, or at once while the
// work dir's filesystem has less than gcFreeFraction free.

const gcFreeFraction = 0.10

// watchDisk runs until ctx ends.
func (a *Agent) watchDisk(ctx context.Context) {
	tick := time.NewTicker(a.cfg.DiskWatchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.measureDisk(ctx)
		a.collectGarbage(ctx)
	}
}

type diskTarget struct {
	t       *taskRun
	sandbox string
	limit   float64 // MiB; 0 means none
}

// measureDisk measures live sandboxes off the loop and applies the
// results on it.
func (a *Agent) measureDisk(ctx context.Context) {
	var targets []diskTarget
	if err := a.do(ctx, func() {
		for _, t := range a.tasks {
			if t.proc == nil || t.exited {
				continue
			}
			var limit float64
			for _, r := range t.info.GetResources() {
				if r.GetName() == "disk" && !resources.IsVolume(r) {
					limit += r.GetScalar().GetValue()
				}
			}
			targets = append(targets, diskTarget{t: t, sandbox: t.sandbox, limit: limit})
		}
	}); err != nil {
		return
	}
	usage := make([]int64, len(targets))
	for i, d := range targets {
		usage[i] = diskUsage(d.sandbox)
	}
	a.post(func() {
		for i, d := range targets {
			t := d.t
			t.diskBytes = usage[i]
			if !a.cfg.EnforceDiskQuota || d.limit <= 0 || t.exited || t.killed {
				continue
			}
			if float64(usage[i]) > d.limit*(1<<20) {
				reason := mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK
				t.limit = &reason
				t.limitation = &mesospb.TaskResourceLimitation{Resources: resources.Resources(t.info.GetResources()).Filter(
					func(r *mesospb.Resource) bool { return r.GetName() == "disk" && !resources.IsVolume(r) })}
				t.limitMessage = "Disk quota exceeded: the sandbox uses " + formatFloat(float64(usage[i])/(1<<20)) +
					" MiB of its " + formatFloat(d.limit) + " MiB"
				a.log.Info("killing a task over its disk quota", "task", t.key.TaskID, "used_mib", float64(usage[i])/(1<<20), "limit_mib", d.limit)
				a.killTask(t, nil)
			}
		}
	})
}

// diskUsage sums the blocks of every file under dir, without following
// links (volumes are measured as volumes, not as the sandbox).
func diskUsage(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total
}

// collectGarbage removes the run directories of containers that are no
// longer tracked and have been idle for GCDelay (or at once under disk
// pressure).
func (a *Agent) collectGarbage(ctx context.Context) {
	live := make(map[string]bool)
	if err := a.do(ctx, func() {
		for _, t := range a.tasks {
			live[t.containerID] = true
		}
	}); err != nil {
		return
	}
	pressure := freeFraction(a.cfg.WorkDir) < gcFreeFraction
	runs, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "agents", "*", "frameworks", "*", "executors", "*", "runs", "*"))
	now := time.Now()
	for _, run := range runs {
		id := filepath.Base(run)
		if id == "latest" || live[id] {
			continue
		}
		idle := now.Sub(lastModified(run))
		if !pressure && idle < a.cfg.GCDelay {
			continue
		}
		if err := os.RemoveAll(run); err != nil {
			a.log.Warn("could not garbage-collect a sandbox", "sandbox", run, "err", err)
			continue
		}
		a.log.Debug("sandbox garbage-collected", "sandbox", run, "idle", idle.Round(time.Second), "disk_pressure", pressure)
		// Drop the executor directory once its last run is gone.
		runsDir := filepath.Dir(run)
		if entries, _ := os.ReadDir(runsDir); len(entries) == 0 || (len(entries) == 1 && entries[0].Name() == "latest") {
			_ = os.RemoveAll(filepath.Dir(runsDir))
		}
	}
}

func lastModified(dir string) time.Time {
	var latest time.Time
	for _, p := range []string{dir, filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")} {
		if info, err := os.Stat(p); err == nil && info.ModTime().After(latest) {
			latest = info.ModTime()
		}
	}
	return latest
}

func freeFraction(dir string) float64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Blocks == 0 {
		return 1
	}
	return float64(st.Bavail) / float64(st.Blocks)
}
