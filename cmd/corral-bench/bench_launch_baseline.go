package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// runcRuns caps the containers the linux baseline runs: they go one after
// another, at a tenth of a second or more each.
const runcRuns = 50

// addBaseline measures the floor for r's isolation on this machine and
// fills in r's baseline fields and ratios. A baseline this machine cannot
// run (no runc) is noted in r, not failed; one that fails is noted and
// returned. Simulated agents fork nothing and have no floor to compare.
func (r *launchResult) addBaseline(ctx context.Context, command string) error {
	workers := runtime.GOMAXPROCS(0) * 4
	if r.OneAtATime {
		workers = 1 // to compare like with like: one launch after another
	}
	switch {
	case r.Isolation == "posix":
		b, err := spawnBaseline(ctx, spawnOptions{N: r.Tasks, Command: command, Workers: workers, Dir: workDirBase(r.Isolation)})
		if err == nil {
			r.setBaseline(b, workers)
		}
		return r.noteBaseline(err)
	case r.Isolation == "linux" && !r.OneAtATime:
		// Many at once: the same containers started detached by runc, as
		// many at a time as the posix baseline spawns.
		b, err := runcDetachedBaseline(ctx, r.Tasks, workers, command, "")
		if err == nil {
			r.setBaseline(b, workers)
		}
		return r.noteBaseline(err)
	case r.Isolation == "linux":
		l, err := runcBaseline(ctx, min(r.Tasks, runcRuns), "")
		if err == nil {
			r.RuncRuns, r.RuncP50 = l.Count, l.P50
			if l.P50 > 0 && r.AcceptToRunning.P50 > 0 {
				r.RatioToRuncP50 = r.AcceptToRunning.P50 / l.P50
			}
		}
		return r.noteBaseline(err)
	}
	return nil
}

// noteBaseline notes in r why a baseline is missing: this machine cannot
// run it (returns nil), or it failed (returns err).
func (r *launchResult) noteBaseline(err error) error {
	var skipped baselineSkipped
	switch {
	case errors.As(err, &skipped):
		r.BaselineSkipped = skipped.Error()
		return nil
	case err != nil:
		r.BaselineSkipped = "failed: " + err.Error()
	}
	return err
}

// setBaseline records a baseline that started b.Started of the same
// launches in b.Elapsed, and corral's time over it.
func (r *launchResult) setBaseline(b spawnResult, workers int) {
	secs := b.Elapsed.Seconds()
	if secs <= 0 {
		return // nothing measurable; cannot happen with a real clock
	}
	r.BaselineSeconds, r.BaselineWorkers = secs, workers
	r.BaselineTasksPerSecond = float64(b.Started) / secs
	if r.Seconds > 0 {
		r.RatioToBaseline = r.Seconds / secs
	}
}

// baselineSentence is the table's line about the baseline, "" if there is
// none to speak of.
func baselineSentence(r launchResult) string {
	switch {
	case r.BaselineSkipped != "":
		return fmt.Sprintf("No baseline on this machine: %s.", r.BaselineSkipped)
	case r.BaselineSeconds > 0 && r.Isolation == "linux":
		return fmt.Sprintf("Baseline, the same %d containers started by `runc run -d` after the run (`/bin/sh -c` the same command, a root shaped like corral's, %d at a time): "+
			"all running in %.2f s (%.0f/s); corral took **%.1f×** as long.",
			r.Tasks, r.BaselineWorkers, r.BaselineSeconds, r.BaselineTasksPerSecond, r.RatioToBaseline)
	case r.BaselineSeconds > 0:
		workers := fmt.Sprintf("%d workers", r.BaselineWorkers)
		if r.BaselineWorkers == 1 {
			workers = "one after another"
		}
		return fmt.Sprintf("Baseline, the same %d commands spawned from Go after the run (os/exec, a fresh sandbox with stdout and stderr files each, %s): "+
			"all started in %.2f s (%.0f/s); corral took **%.1f×** as long.",
			r.Tasks, workers, r.BaselineSeconds, r.BaselineTasksPerSecond, r.RatioToBaseline)
	case r.RuncRuns > 0:
		return fmt.Sprintf("Baseline, `runc run` of /bin/true after the run (create, start, exit, delete; %d runs one after another, a root shaped like corral's): "+
			"p50 %.2f ms; corral's ACCEPT → TASK_RUNNING p50 is **%.2f×** that.",
			r.RuncRuns, r.RuncP50, r.RatioToRuncP50)
	}
	return ""
}
