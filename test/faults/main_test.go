package faults

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
	"github.com/corral-sched/corral/test/cluster/history"
)

var (
	seed     = flag.Uint64("seed", 0, "seed of the randomized runs (0: a new one, printed)")
	duration = flag.Duration("duration", 0, "how long the nemesis runs (0: 30s, or 60s under CORRAL_FAULTS=1)")
)

// corralBin is the binary under test, built once by TestMain.
var corralBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "corral-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	corralBin, err = cluster.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long reports whether the long runs are on (make faults sets
// CORRAL_FAULTS=1): the scenarios kept out of make test run, and the
// nemesis runs for 60 s instead of 30 s.
func long() bool { return os.Getenv("CORRAL_FAULTS") == "1" }

// requireLong skips a scenario outside make faults, saying why.
func requireLong(t *testing.T) {
	t.Helper()
	if !long() {
		t.Skip("runs under make faults (CORRAL_FAULTS=1)")
	}
}

// rng returns the test's random source and logs its seed, so that a
// failing run can be replayed with -seed.
func rng(t *testing.T) *rand.Rand {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./test/faults -run '^%s$' -seed %d)", s, t.Name(), s)
	return rand.New(rand.NewPCG(s, s^0x636f7272616c))
}

// options are the clusters' common options; CORRAL_FAULTS_LOGS keeps every
// node's log and the history there.
func options(o cluster.Options) cluster.Options {
	o.Corral = corralBin
	o.Logs = os.Getenv("CORRAL_FAULTS_LOGS")
	return o
}

var reportMu sync.Mutex

// finish checks the history, fails the test on any anomaly, and adds the
// scenario's line to CORRAL_FAULTS_REPORT (make faults sums them).
func finish(t *testing.T, c *cluster.Cluster) history.Report {
	t.Helper()
	r := c.Check()
	if path := os.Getenv("CORRAL_FAULTS_REPORT"); path != "" {
		// One line per scenario: name, operations checked, anomalies.
		reportMu.Lock()
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "%s\t%d\t%d\n", t.Name(), r.Operations, len(r.Anomalies))
			f.Close()
		}
		reportMu.Unlock()
	}
	if !r.OK() {
		t.Fatalf("the history violates corral's guarantees:\n%s", r)
	}
	return r
}

// taskIDs names n tasks: prefix-00, prefix-01...
func taskIDs(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return out
}
