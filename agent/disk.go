package agent

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/corral-sched/corral/internal/periodic"
)

// Every DiskWatchInterval the agent garbage-collects the sandboxes of
// tasks that are over: after GCDelay, or at once while the work dir's
// filesystem has less than gcFreeFraction free. (Measuring running
// sandboxes, and killing a task over its disk, is the disk/du isolator's.)

const gcFreeFraction = 0.10

// watchDisk collects garbage until ctx ends.
func (a *Agent) watchDisk(ctx context.Context) {
	periodic.Every(ctx, a.cfg.DiskWatchInterval, func() bool {
		a.collectGarbage(ctx)
		return true
	})
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
