package service

import "github.com/corral-sched/corral/frameworks/kit"

// metrics are the framework's gauges on /metrics.
func (f *Framework) metrics() *kit.Gauges {
	g := kit.NewGauges(&f.mu)
	g.Gauge("corral_service_apps", "Apps the service framework runs.", func() int { return len(f.apps) })
	g.ByLabel("corral_service_instances", "Instances by Mesos task state.", "state", func() map[string]int {
		// The states a dashboard watches are there from the start, at 0.
		states := map[string]int{"TASK_STAGING": 0, "TASK_RUNNING": 0}
		for _, in := range f.instances {
			states[in.State]++
		}
		return states
	})
	g.Gauge("corral_service_instances_waiting", "Instances waiting to be placed (see /v2/queue).", func() int {
		wanted := 0
		for _, as := range f.apps {
			wanted += as.wanted
		}
		return wanted
	})
	g.Gauge("corral_service_deployments", "Deployments in progress.", func() int { return len(f.deployments) })
	return g
}
