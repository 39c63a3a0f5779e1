package master

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/master/core"
)

// metrics holds the transport's Prometheus instruments; the core registers
// its own.
type metrics struct {
	schedulerCalls *prometheus.CounterVec
	operatorCalls  *prometheus.CounterVec
	rateLimited    *prometheus.CounterVec
}

func newMetrics(m *Master, reg prometheus.Registerer) (*metrics, error) {
	mt := &metrics{
		schedulerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_master_scheduler_calls_total",
			Help: "Scheduler API calls received, by call type.",
		}, []string{"call"}),
		operatorCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_master_operator_calls_total",
			Help: "Operator API calls received, by call type.",
		}, []string{"call"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_master_rate_limited_calls_total",
			Help: "Calls answered 429 because their principal exceeded its rate limit, by API (scheduler, operator).",
		}, []string{"api"}),
	}
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corral_master_agent_registrations_waiting",
		Help: "Agent registrations waiting for one of the master's admission slots (a fleet registering at once).",
	}, func() float64 { return float64(m.admissionsWaiting.Load()) })
	for _, c := range []prometheus.Collector{mt.schedulerCalls, mt.operatorCalls, mt.rateLimited, waiting, &stateCollector{m: m}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("master: registering metrics: %w", err)
		}
	}
	return mt, nil
}

// stateCollector reads the core's gauges on the loop.
type stateCollector struct{ m *Master }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range core.GaugeDescs() {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []prometheus.Metric
	if err := c.m.do(ctx, func(cr *core.Core) { out = cr.Gauges() }); err != nil {
		ch <- core.NotLeading()
		return
	}
	for _, m := range out {
		ch <- m
	}
}
