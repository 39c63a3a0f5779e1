// Package testcluster starts a real corral cluster inside the current
// process for corral's own integration tests, examples and benchmarks: the
// framework test kit (frameworks/sdk/sdktest) set up as those tests were
// written for, with the master's production timing (pings, allocation
// interval, real clock), no registry and no traffic observer. Tests that
// need the kit's faults, clock or assertions use sdktest directly.
package testcluster

import (
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/master"
)

// Options shape a cluster; see sdktest.Options.
type Options = sdktest.Options

// Cluster is a running cluster; see sdktest.Cluster.
type Cluster = sdktest.Cluster

// TB is the part of testing.TB that Start needs.
type TB = sdktest.TB

// New starts a cluster and waits until every agent has registered.
func New(opts Options) (*Cluster, error) { return sdktest.New(production(opts)) }

// Start starts a cluster for a test and stops it when the test ends. Logs
// go to the test log when CORRAL_TEST_LOG is set.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	return sdktest.Start(t, production(opts))
}

// production undoes the kit's test settings before the caller's own.
func production(opts Options) Options {
	tune := opts.Master
	opts.Master = func(c *master.Config) {
		c.Store, c.Now, c.AfterFunc, c.AgentClock = nil, nil, nil, nil
		c.AgentPingTimeout, c.MaxAgentPingTimeouts, c.AllocationInterval = 0, 0, 0
		if tune != nil {
			tune(c)
		}
	}
	opts.DisableObserver = true
	return opts
}
