package pets

import "github.com/corral-sched/corral/frameworks/kit"

// metrics are the framework's gauges on /metrics.
func (f *Framework) metrics() *kit.Gauges {
	g := kit.NewGauges(&f.mu)
	g.Gauge("corral_pets_petsets", "Pet sets the pets framework keeps.", func() int { return len(f.sets) })
	g.ByLabel("corral_pets_pets", "Pets by the Mesos state of their task (\"none\" before the first update).", "state", func() map[string]int {
		// The states an alert watches are there from the start, at 0.
		states := map[string]int{"TASK_RUNNING": 0, "TASK_FAILED": 0, "TASK_LOST": 0}
		for _, p := range f.pets {
			s := p.State
			if s == "" {
				s = "none"
			}
			states[s]++
		}
		return states
	})
	g.Gauge("corral_pets_waiting", "Pets waiting to be placed (see GET /v1/petsets/{id}/pets for why).", func() int { return len(f.waiting) })
	return g
}
