package images

import (
	"fmt"

	"github.com/corral-sched/corral/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	pulls     *prometheus.CounterVec
	bytes     prometheus.Counter
	hits      *prometheus.CounterVec
	gcRemoved prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, storeBytes, storeLayers func() float64) (*metrics, error) {
	reg, _ = promreg.Resolve(reg)
	m := &metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_agent_image_pulls_total",
			Help: "Image pulls from a registry or archive, by result (ok, or the kind of failure).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_agent_image_pull_bytes_total",
			Help: "Layer bytes read from registries and archives.",
		}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corral_agent_image_cache_hits_total",
			Help: "Provisions served without a pull (kind=image) and layers found already unpacked (kind=layer).",
		}, []string{"kind"}),
		gcRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corral_agent_image_gc_removed_layers_total",
			Help: "Layers removed from the image store by garbage collection.",
		}),
	}
	collectors := []prometheus.Collector{m.pulls, m.bytes, m.hits, m.gcRemoved,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "corral_agent_image_store_bytes",
			Help: "Disk used by the image store's layers.",
		}, storeBytes),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "corral_agent_image_store_layers",
			Help: "Layers in the image store.",
		}, storeLayers),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("image metrics: %w", err)
		}
	}
	m.hits.WithLabelValues("image")
	m.hits.WithLabelValues("layer")
	m.pulls.WithLabelValues("ok")
	return m, nil
}
