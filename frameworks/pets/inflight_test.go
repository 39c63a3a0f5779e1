package pets

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/store"
)

// A pet whose ACCEPT is slow to reach the master is not reconciled while
// it is on its way: the master, which does not know the task yet, would
// answer TASK_GONE, and the framework would take a pet about to start for
// one that ended and start another incarnation beside it.
func TestAPetIsNotReconciledWhileItsLaunchIsOnItsWay(t *testing.T) {
	var proxy *sdktest.AcceptProxy
	h := onePetBehind(t, 0, func(c *sdktest.Cluster) string {
		// Held for several reconcile intervals (the harness's is 300 ms).
		proxy = sdktest.NewSlowAccepts(t, c.MasterURL, 1500*time.Millisecond)
		return proxy.Addr
	})
	h.waitReady("db", 1, 0)

	if ends := h.terminals(); len(ends) > 0 {
		t.Fatalf("a pet ended while it started: %s %s", ends[0].st.GetTaskId().GetValue(), ends[0].st.GetState())
	}
	if p := h.pets("db")[0]; p.Incarnation != 1 {
		t.Fatalf("db-0 is at incarnation %d, want 1: it was launched again", p.Incarnation)
	}
	if early := proxy.ReconciledInFlight(); len(early) > 0 {
		t.Fatalf("reconciled while their ACCEPT was on its way: %v", early)
	}
}

// A launch the master never took (its ACCEPT lost, as when the master
// fails over before handling it) is found gone by reconciliation within
// seconds, not at the next periodic reconciliation an hour away, and the
// pet is launched again.
func TestALostLaunchIsReconciledAndThePetLaunchedAgain(t *testing.T) {
	var proxy *sdktest.AcceptProxy
	h := onePetBehind(t, time.Hour, func(c *sdktest.Cluster) string {
		proxy = sdktest.NewLostAccepts(t, c.MasterURL, 1)
		return proxy.Addr
	})
	h.waitFor("the first launch to be lost", func() bool { return len(proxy.Lost()) > 0 })
	// The master still holds the offer the lost ACCEPT named, until it
	// times out.
	h.cluster.Advance(time.Hour)
	h.waitReady("db", 1, 0)
	p := h.pets("db")[0]
	if lost := proxy.Lost(); slices.Contains(lost, p.TaskID) {
		t.Fatalf("db-0 runs as %s, whose launch was lost", p.TaskID)
	}
	if p.Incarnation != 2 {
		t.Fatalf("db-0 is at incarnation %d, want 2: its lost launch and the one after", p.Incarnation)
	}
}

// onePetBehind starts a cluster of one agent and the framework, which
// reaches the master at the address front returns (a proxy before it),
// with reconcileInterval (0: the harness's), and creates a set of one pet.
func onePetBehind(t *testing.T, reconcileInterval time.Duration, front func(*sdktest.Cluster) string) *harness {
	t.Helper()
	c := sdktest.Start(t, sdktest.Options{Agents: 1})
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, cluster: c, store: st, master: front(c), reconcileInterval: reconcileInterval}
	h.start()
	spec := dbSpec(1)
	delete(spec, "constraints")
	h.do(http.MethodPost, "/v1/petsets", spec, http.StatusCreated)
	return h
}
