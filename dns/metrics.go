package dns

import (
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	queries        *prometheus.CounterVec
	names          prometheus.Gauge
	connected      prometheus.Gauge
	events         prometheus.Counter
	forwardSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corral_dns_queries_total",
			Help: "DNS queries answered, by query type and response code."}, []string{"type", "rcode"}),
		names: prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_dns_names",
			Help: "Names in the served domain, in the latest generation of records."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "corral_dns_master_connected",
			Help: "1 while the operator event stream from the leading master is open."}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "corral_dns_master_events_total",
			Help: "Operator events read from the master."}),
		forwardSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corral_dns_forward_seconds",
			Help: "Time to answer a query forwarded to the resolvers.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8)}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.names, m.connected, m.events, m.forwardSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("dns: registering metrics: %w", err)
		}
	}
	return m, nil
}

// queryTypes bounds the type label: anything else counts as OTHER.
var queryTypes = map[uint16]string{
	dns.TypeA: "A", dns.TypeAAAA: "AAAA", dns.TypeSRV: "SRV", dns.TypeSOA: "SOA", dns.TypeNS: "NS",
	dns.TypeANY: "ANY", dns.TypePTR: "PTR", dns.TypeTXT: "TXT", dns.TypeCNAME: "CNAME", dns.TypeMX: "MX",
}

func (s *Server) count(req, resp *dns.Msg) {
	typ := "NONE"
	if len(req.Question) == 1 {
		var ok bool
		if typ, ok = queryTypes[req.Question[0].Qtype]; !ok {
			typ = "OTHER"
		}
	}
	rcode, ok := dns.RcodeToString[resp.Rcode]
	if !ok {
		rcode = "OTHER"
	}
	s.metrics.queries.WithLabelValues(typ, rcode).Inc()
}
