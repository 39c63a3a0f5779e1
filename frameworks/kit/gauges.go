package kit

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Gauges exports a framework's state as Prometheus gauges read at scrape
// time, with the framework's lock held, so that /metrics says what the
// framework holds however it runs (API.Metrics).
type Gauges struct {
	mu     sync.Locker
	gauges []gauge
}

type gauge struct {
	desc     *prometheus.Desc
	labelled bool
	// read returns the gauge's value by label value (one value, under
	// "", for a gauge without a label).
	read func() map[string]int
}

var _ prometheus.Collector = (*Gauges)(nil)

// NewGauges returns gauges read with mu, the framework's lock, held.
func NewGauges(mu sync.Locker) *Gauges { return &Gauges{mu: mu} }

// Gauge adds a gauge without labels.
func (g *Gauges) Gauge(name, help string, read func() int) {
	g.gauges = append(g.gauges, gauge{
		desc: prometheus.NewDesc(name, help, nil, nil),
		read: func() map[string]int { return map[string]int{"": read()} },
	})
}

// ByLabel adds a gauge with one label. read should hold at 0 the label
// values an alert or a dashboard watches, so that their series exist
// before the first event.
func (g *Gauges) ByLabel(name, help, label string, read func() map[string]int) {
	g.gauges = append(g.gauges, gauge{desc: prometheus.NewDesc(name, help, []string{label}, nil), labelled: true, read: read})
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range g.gauges {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.gauges {
		for value, n := range m.read() {
			var labels []string
			if m.labelled {
				labels = []string{value}
			}
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(n), labels...)
		}
	}
}
