package benchkit

import (
	"slices"
	"time"
)

// Latency summarises a set of durations in milliseconds, the unit every
// table in docs/PERFORMANCE.md uses.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize sorts ds in place and returns its percentiles (nearest rank).
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{Count: len(ds), P50: Ms(Percentile(ds, 0.50)), P90: Ms(Percentile(ds, 0.90)),
		P99: Ms(Percentile(ds, 0.99)), Max: Ms(ds[len(ds)-1])}
}

// Percentile returns the p-th percentile (0 < p ≤ 1) of sorted ds by
// nearest rank: the smallest value at least p of the set is at or below.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(len(sorted)-1, rank))]
}

// Ms is d in milliseconds with microsecond precision.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
