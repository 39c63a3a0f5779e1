// Package ratelimit bounds how many calls each principal makes to the
// master's scheduler and operator APIs, from Mesos' --rate_limits file.
package ratelimit

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"golang.org/x/time/rate"
)

// Limits bound how many calls each principal makes per second to the
// scheduler and operator APIs, from a file in Mesos' --rate_limits JSON:
//
//	{"limits": [{"principal": "etl", "qps": 50}, {"principal": "ops"}],
//	 "aggregate_default_qps": 100}
//
// A listed principal without qps is unlimited; principals not listed (and
// unauthenticated callers, principal "") share one aggregate bucket when
// aggregate_default_qps is set and are unlimited otherwise. Each bucket
// holds one second of calls (at least one), or "capacity" calls when
// given; a call finding its bucket empty is answered 429 with Retry-After
// instead of being queued, so that one principal's flood costs the master
// no memory and others keep being served.
type Limits struct {
	perPrincipal map[string]*rate.Limiter // nil value: unlimited
	aggregate    *rate.Limiter            // nil: unlimited
}

type rateLimitsFile struct {
	Limits []struct {
		Principal string   `json:"principal"`
		QPS       *float64 `json:"qps"`
		Capacity  *uint64  `json:"capacity"`
	} `json:"limits"`
	AggregateDefaultQPS      *float64 `json:"aggregate_default_qps"`
	AggregateDefaultCapacity *uint64  `json:"aggregate_default_capacity"`
}

// Load reads a rate limits file.
func Load(path string) (*Limits, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	rl, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rl, nil
}

// Parse reads rate limits in Mesos' JSON shape.
func Parse(b []byte) (*Limits, error) {
	var f rateLimitsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("rate limits: not Mesos' {\"limits\": [{\"principal\", \"qps\"}], \"aggregate_default_qps\"} JSON: %w", err)
	}
	rl := &Limits{perPrincipal: make(map[string]*rate.Limiter)}
	for i, l := range f.Limits {
		switch {
		case l.Principal == "":
			return nil, fmt.Errorf("rate limits: limits[%d] has no principal", i)
		case rl.has(l.Principal):
			return nil, fmt.Errorf("rate limits: principal %q appears twice", l.Principal)
		}
		lim, err := limiter(l.QPS, l.Capacity)
		if err != nil {
			return nil, fmt.Errorf("rate limits: principal %q: %w", l.Principal, err)
		}
		rl.perPrincipal[l.Principal] = lim
	}
	lim, err := limiter(f.AggregateDefaultQPS, f.AggregateDefaultCapacity)
	if err != nil {
		return nil, fmt.Errorf("rate limits: aggregate_default: %w", err)
	}
	rl.aggregate = lim
	return rl, nil
}

func (rl *Limits) has(principal string) bool {
	_, ok := rl.perPrincipal[principal]
	return ok
}

func limiter(qps *float64, capacity *uint64) (*rate.Limiter, error) {
	if qps == nil {
		if capacity != nil {
			return nil, fmt.Errorf("capacity without qps")
		}
		return nil, nil
	}
	q := *qps
	if math.IsNaN(q) || math.IsInf(q, 0) || q <= 0 {
		return nil, fmt.Errorf("qps must be a positive number, got %v", q)
	}
	burst := int(math.Ceil(q))
	if capacity != nil {
		if *capacity == 0 || *capacity > math.MaxInt32 {
			return nil, fmt.Errorf("capacity must be between 1 and %d, got %d", math.MaxInt32, *capacity)
		}
		burst = int(*capacity)
	}
	return rate.NewLimiter(rate.Limit(q), burst), nil
}

// Allow takes one call of principal from its bucket. When the bucket is
// empty it says how long until it is not.
func (rl *Limits) Allow(principal string) (bool, time.Duration) {
	if rl == nil {
		return true, 0
	}
	lim, listed := rl.perPrincipal[principal]
	if !listed {
		lim = rl.aggregate
	}
	if lim == nil {
		return true, 0
	}
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
