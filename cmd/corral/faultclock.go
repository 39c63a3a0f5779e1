package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// faultClockEnv is a fault-injection seam: a duration added to the
// master's wall clock for the life of the process, as if its machine's
// clock had jumped before it started. Linux time namespaces offset only
// the monotonic and boot-time clocks, never the wall clock, so a test
// cluster cannot give one node a clock of its own any other way. Go
// measures durations with the monotonic clock, so a jump matters where
// wall times cross processes: the registry (failover deadlines), status
// timestamps. Not a flag: no operator should ever set it.
const faultClockEnv = "CORRAL_FAULT_CLOCK_OFFSET"

// faultClock returns the master's clock: nil (time.Now) unless the seam
// is set.
func faultClock(log *slog.Logger) (func() time.Time, error) {
	v := os.Getenv(faultClockEnv)
	if v == "" {
		return nil, nil
	}
	offset, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", faultClockEnv, err)
	}
	log.Warn("the wall clock is shifted for fault injection", "offset", offset, "env", faultClockEnv)
	return func() time.Time { return time.Now().Add(offset) }, nil
}
