package batch

import (
	"time"
)

// maxCatchUp bounds how many missed fire times are counted after a long
// downtime (a minutely job down for a year is not walked minute by
// minute).
const maxCatchUp = 10_000

// runSchedules starts the runs cron schedules call for. After downtime,
// the fire times that passed are counted as missed and at most one run
// starts (for the latest), and only within startingDeadlineSeconds of it:
// schedules catch up without stampeding.
func (f *Framework) runSchedules(now time.Time) {
	for _, id := range sortedKeys(f.jobs) {
		js := f.jobs[id]
		s := js.Spec.Schedule
		if s == nil {
			continue
		}
		sched, err := s.parse()
		if err != nil {
			continue // validated on submit; a zone database change is logged nowhere better
		}
		if js.NextRun.IsZero() {
			js.NextRun = sched.Next(now)
			f.jobRecords.Mark(id)
			continue
		}
		if now.Before(js.NextRun) {
			continue
		}
		latest, fires := js.NextRun, 0
		for t := js.NextRun; !t.After(now) && fires < maxCatchUp; t = sched.Next(t) {
			latest = t
			fires++
		}
		js.Missed += fires - 1
		js.NextRun = sched.Next(now)
		f.jobRecords.Mark(id)
		if d := s.StartingDeadlineSeconds; d > 0 && now.Sub(latest) > time.Duration(d*float64(time.Second)) {
			js.Missed++
			continue
		}
		if active := f.activeRun(id); active != nil {
			switch s.ConcurrencyPolicy {
			case Forbid:
				js.Skipped++
				continue
			case Replace:
				f.finishRun(active, Failed, "replaced by the run scheduled for "+latest.Format(time.RFC3339), now)
			}
		}
		f.startRun(js, "schedule", now, latest)
	}
}
