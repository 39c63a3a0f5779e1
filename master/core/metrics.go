package core

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// metrics holds the state machine's Prometheus instruments. Counters are
// bumped as things happen; gauges that describe the state are read when
// Prometheus scrapes (Gauges, which the transport calls on its loop), so
// they are never stale and cost nothing between scrapes.
type metrics struct {
	statusUpdates     *prometheus.CounterVec
	launches          prometheus.Counter
	allocationSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	mt := &metrics{
		statusUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_master_status_updates_total",
			Help: "Task status updates, by task state and source: SOURCE_AGENT and SOURCE_EXECUTOR for the ones agents sent, " +
				"SOURCE_MASTER for the ones the master made (agents unreachable or gone, invalid launches).",
		}, []string{"state", "source"}),
		launches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_master_tasks_launched_total",
			Help: "Tasks sent to agents for launch.",
		}),
		allocationSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corral_allocator_run_seconds",
			Help:    "Duration of allocation rounds.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 12),
		}),
	}
	// The series alerts watch exist from the start: a counter first seen
	// at 5 has no increase to show for those 5.
	for _, state := range lossStates {
		for _, source := range []mesospb.TaskStatus_Source{mesospb.TaskStatus_SOURCE_MASTER,
			mesospb.TaskStatus_SOURCE_AGENT, mesospb.TaskStatus_SOURCE_EXECUTOR} {
			mt.statusUpdates.WithLabelValues(state.String(), source.String())
		}
	}
	for _, c := range []prometheus.Collector{mt.statusUpdates, mt.launches, mt.allocationSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("master: registering metrics: %w", err)
		}
	}
	return mt, nil
}

// lossStates are the states of tasks lost to a failure, which the
// CorralTasksLostRising alert counts (docs/prometheus/corral-alerts.yml).
var lossStates = []mesospb.TaskState{mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_UNREACHABLE,
	mesospb.TaskState_TASK_GONE, mesospb.TaskState_TASK_GONE_BY_OPERATOR, mesospb.TaskState_TASK_DROPPED}

var (
	descElected = prometheus.NewDesc("corral_master_elected",
		"1 if this master is the leader.", nil, nil)
	descAgents = prometheus.NewDesc("corral_master_agents",
		"Agents known to the master, by state.", []string{"state"}, nil)
	descFrameworks = prometheus.NewDesc("corral_master_frameworks",
		"Frameworks known to the master, by state.", []string{"state"}, nil)
	descTasks = prometheus.NewDesc("corral_master_tasks",
		"Tasks known to the master, by latest state.", []string{"state"}, nil)
	descResources = prometheus.NewDesc("corral_master_resources",
		"Scalar resources of active agents: total, used by tasks, and offered.", []string{"resource", "kind"}, nil)
	descUnoffered = prometheus.NewDesc("corral_allocator_unoffered_framework_roles",
		"Framework roles the last allocation round offered nothing, by reason.", []string{"reason"}, nil)
	descOffers = prometheus.NewDesc("corral_master_offers_outstanding",
		"Offers made and not yet accepted, declined or rescinded.", nil, nil)
)

// GaugeDescs describe what Gauges reports.
func GaugeDescs() []*prometheus.Desc {
	return []*prometheus.Desc{descElected, descAgents, descFrameworks, descTasks, descResources, descOffers, descUnoffered}
}

// NotLeading is the gauge a master reports when it cannot read its state.
func NotLeading() prometheus.Metric {
	return prometheus.MustNewConstMetric(descElected, prometheus.GaugeValue, 0)
}

func collectGauges(s *state) []prometheus.Metric {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
		return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	out := []prometheus.Metric{
		gauge(descElected, 1),
		gauge(descOffers, float64(len(s.offers))),
	}
	agents := map[string]float64{"active": 0, "disconnected": 0, "unreachable": 0, "gone": float64(len(s.gone))}
	type kinds struct{ total, used, offered float64 }
	res := make(map[string]*kinds)
	add := func(r resources.Resources, kind func(*kinds) *float64) {
		for name, v := range r.Quantities() {
			if res[name] == nil {
				res[name] = &kinds{}
			}
			*kind(res[name]) += v
		}
	}
	for _, a := range s.agents {
		agents[a.health.String()]++
		if a.health != agentActive {
			continue
		}
		add(a.total, func(k *kinds) *float64 { return &k.total })
		for _, t := range a.tasks {
			if !t.released {
				add(t.resources, func(k *kinds) *float64 { return &k.used })
			}
		}
		for _, o := range a.offers {
			add(o.resources, func(k *kinds) *float64 { return &k.offered })
		}
	}
	for state, n := range agents {
		out = append(out, gauge(descAgents, n, state))
	}
	for name, k := range res {
		out = append(out,
			gauge(descResources, k.total, name, "total"),
			gauge(descResources, k.used, name, "used"),
			gauge(descResources, k.offered, name, "offered"))
	}
	frameworks := map[string]float64{"connected": 0, "disconnected": 0}
	tasks := make(map[string]float64)
	for _, f := range s.frameworks {
		if f.connected() {
			frameworks["connected"]++
		} else {
			frameworks["disconnected"]++
		}
		for _, t := range f.tasks {
			tasks[t.state.String()]++
		}
		tasks[mesospb.TaskState_TASK_UNREACHABLE.String()] += float64(f.unreachable.len())
	}
	for state, n := range frameworks {
		out = append(out, gauge(descFrameworks, n, state))
	}
	for reason, n := range s.unofferedByReason {
		out = append(out, gauge(descUnoffered, float64(n), string(reason)))
	}
	for state, n := range tasks {
		out = append(out, gauge(descTasks, n, state))
	}
	return out
}
