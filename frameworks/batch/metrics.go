package batch

import "github.com/prometheus/client_golang/prometheus"

// collector exports the framework's state as Prometheus metrics, read at
// scrape time, so that /metrics says what the framework holds in every
// way it runs.
type collector struct{ f *Framework }

var (
	descJobs = prometheus.NewDesc("corral_batch_jobs", "Jobs the batch framework keeps.", nil, nil)
	descRuns = prometheus.NewDesc("corral_batch_runs", "Runs kept (active and history) by status.", []string{"status"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobs
	ch <- descRuns
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	// Every status is there from the start, at 0: a rate of failed runs
	// needs the series before the first failure.
	runs := map[RunStatus]int{Running: 0, Succeeded: 0, Failed: 0}
	for _, r := range f.runs {
		runs[r.Status]++
	}
	ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(len(f.jobs)))
	for s, n := range runs {
		ch <- prometheus.MustNewConstMetric(descRuns, prometheus.GaugeValue, float64(n), string(s))
	}
}
