// Package promreg decides where a component registers its metrics and
// where its /metrics endpoint reads them.
package promreg

import "github.com/prometheus/client_golang/prometheus"

// Resolve returns the registerer to use and the gatherer /metrics serves:
// a private registry when reg is nil, reg itself when it can also gather,
// and otherwise reg with an empty gatherer (the caller serves its own
// registry elsewhere).
func Resolve(reg prometheus.Registerer) (prometheus.Registerer, prometheus.Gatherer) {
	if reg == nil {
		r := prometheus.NewRegistry()
		return r, r
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		return reg, g
	}
	return reg, prometheus.Gatherers{}
}
