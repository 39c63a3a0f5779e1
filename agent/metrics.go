package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/agent/containerizer"
)

type metrics struct {
	registered     prometheus.Gauge
	launches       prometheus.Counter
	launchFailures prometheus.Counter
}

var (
	descContainers = prometheus.NewDesc("corral_agent_containers",
		"Task processes running on this agent.", nil, nil)
	descTasks = prometheus.NewDesc("corral_agent_tasks",
		"Tasks on this agent, by latest state.", []string{"state"}, nil)
	descDisk = prometheus.NewDesc("corral_agent_container_disk_bytes",
		"Disk a running task's sandbox occupies, as last measured.", []string{"framework", "task"}, nil)
	descMem = prometheus.NewDesc("corral_agent_container_memory_bytes",
		"Resident memory of a running task's container (its cgroup, or its process group).", []string{"framework", "task"}, nil)
	descCPU = prometheus.NewDesc("corral_agent_container_cpu_seconds_total",
		"CPU time of a running task's container (its cgroup, or its process group).", []string{"framework", "task"}, nil)
	descPending = prometheus.NewDesc("corral_agent_status_updates_pending",
		"Status updates waiting for the framework's acknowledgement.", nil, nil)
)

func newMetrics(a *Agent, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		registered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corral_agent_registered", Help: "1 while the agent is subscribed to a master.",
		}),
		launches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_agent_launches_total", Help: "Tasks this agent was asked to launch.",
		}),
		launchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_agent_launch_failures_total", Help: "Task launches that failed before the task ran.",
		}),
	}
	for _, c := range []prometheus.Collector{m.registered, m.launches, m.launchFailures, &stateCollector{a: a}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("agent: registering metrics: %w", err)
		}
	}
	return m, nil
}

// stateCollector reads task gauges from the agent's loop at scrape time.
type stateCollector struct{ a *Agent }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descContainers
	ch <- descTasks
	ch <- descPending
	ch <- descDisk
	ch <- descMem
	ch <- descCPU
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	containers, pending := 0, 0
	states := make(map[string]int)
	type live struct {
		framework, task string
		proc            *containerizer.Process
	}
	var running []live
	err := c.a.do(ctx, func() {
		for _, t := range c.a.tasks {
			states[t.state.String()]++
			if t.running() {
				containers++
				running = append(running, live{t.key.FrameworkID, t.key.TaskID, t.proc})
			}
		}
		pending = c.a.updates.Pending()
	})
	if err != nil {
		return
	}
	for _, r := range running {
		u, _ := r.proc.Usage(ctx) // what no isolator measures reads as zero
		ch <- prometheus.MustNewConstMetric(descDisk, prometheus.GaugeValue, float64(u.DiskBytes), r.framework, r.task)
		ch <- prometheus.MustNewConstMetric(descMem, prometheus.GaugeValue, float64(u.MemoryBytes), r.framework, r.task)
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, u.CPUSeconds, r.framework, r.task)
	}
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(containers))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending))
	for s, n := range states {
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), s)
	}
}
