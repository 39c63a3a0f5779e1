package batch

import "github.com/corral-sched/corral/frameworks/kit"

// metrics are the framework's gauges on /metrics.
func (f *Framework) metrics() *kit.Gauges {
	g := kit.NewGauges(&f.mu)
	g.Gauge("corral_batch_jobs", "Jobs the batch framework keeps.", func() int { return len(f.jobs) })
	g.ByLabel("corral_batch_runs", "Runs kept (active and history) by status.", "status", func() map[string]int {
		// Every status is there from the start, at 0: a rate of failed
		// runs needs the series before the first failure.
		runs := map[string]int{string(Running): 0, string(Succeeded): 0, string(Failed): 0}
		for _, r := range f.runs {
			runs[string(r.Status)]++
		}
		return runs
	})
	return g
}
