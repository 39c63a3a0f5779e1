package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// serverRegistry is the registry of one server's /metrics: its own
// metrics and the Go and process collectors, in `corral dev` as in a
// process of its own (in one process they all report that process, as
// each server of a real cluster reports its own).
func serverRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
