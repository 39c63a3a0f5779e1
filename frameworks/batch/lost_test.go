package batch

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// A launch the master never took (its ACCEPT lost, as when the master
// fails over before handling it) stops neither the framework nor the run:
// reconciliation finds the tasks gone within seconds, and they are
// launched again without spending the job's retries (it has none).
func TestALostLaunchIsReconciledAndTheRunCompletes(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 1})
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	proxy := sdktest.NewLostAccepts(t, c.MasterURL, 1)
	h := &harness{t: t, cluster: c, store: st, master: proxy.Addr}
	h.start()
	h.do(http.MethodPost, "/v1/jobs", Job{ID: "lost", Cmd: "true", CPUs: 0.1, Mem: 16, Completions: 2, Parallelism: 2}, http.StatusCreated)
	run := &RunView{}
	if err := json.Unmarshal(h.do(http.MethodPost, "/v1/jobs/lost/trigger", nil, http.StatusCreated), run); err != nil {
		t.Fatal(err)
	}
	sdktest.Eventually(t, "the first launch to be lost", func() bool { return len(proxy.Lost()) > 0 })
	// The master still holds the offer the lost ACCEPT named, until it
	// times out.
	c.Advance(time.Hour)
	v := h.waitRun("lost", run.ID)
	if v.Status != Succeeded || v.Succeeded != 2 || v.FailedAttempts != 0 {
		t.Fatalf("run = %+v, want succeeded twice without a failed attempt", v.Run)
	}
	// The framework is not partition-aware: the master says TASK_LOST
	// where it would say TASK_GONE to one that is.
	for _, id := range proxy.Lost() {
		answered := false
		for _, st := range h.updates() {
			answered = answered || st.GetTaskId().GetValue() == id &&
				st.GetState() == mesospb.TaskState_TASK_LOST && st.GetReason() == mesospb.TaskStatus_REASON_RECONCILIATION
		}
		if !answered {
			t.Errorf("lost task %s was not found lost by reconciliation", id)
		}
	}
}
