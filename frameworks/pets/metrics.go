package pets

import "github.com/prometheus/client_golang/prometheus"

// collector exports the framework's state as Prometheus metrics, read at
// scrape time, so that /metrics says what the framework holds in every
// way it runs.
type collector struct{ f *Framework }

var (
	descSets    = prometheus.NewDesc("corral_pets_petsets", "Pet sets the pets framework keeps.", nil, nil)
	descPets    = prometheus.NewDesc("corral_pets_pets", "Pets by the Mesos state of their task (\"none\" before the first update).", []string{"state"}, nil)
	descWaiting = prometheus.NewDesc("corral_pets_waiting", "Pets waiting to be placed (see GET /v1/petsets/{id}/pets for why).", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSets
	ch <- descPets
	ch <- descWaiting
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	// The states an alert watches are there from the start, at 0.
	states := map[string]int{"TASK_RUNNING": 0, "TASK_FAILED": 0, "TASK_LOST": 0}
	for _, p := range f.pets {
		s := p.State
		if s == "" {
			s = "none"
		}
		states[s]++
	}
	ch <- prometheus.MustNewConstMetric(descSets, prometheus.GaugeValue, float64(len(f.sets)))
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(descPets, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(len(f.waiting)))
}
