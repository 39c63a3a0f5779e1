package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corral-sched/corral/store"
)

// newOffline is a framework that is never run: for the pure decisions.
func newOffline(t *testing.T) *Framework {
	t.Helper()
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ptr[T any](v T) *T { return &v }

// rollingApp puts an app of n healthy instances at runtime "v1" in f and
// moves it to "v2".
func rollingApp(f *Framework, n int, minHealth, overCapacity float64, now time.Time) *appState {
	app := &App{ID: "/r", Cmd: "x", Instances: ptr(n), Version: "v2",
		UpgradeStrategy:     &UpgradeStrategy{MinimumHealthCapacity: ptr(minHealth), MaximumOverCapacity: ptr(overCapacity)},
		UnreachableStrategy: &UnreachableStrategy{InactiveAfterSeconds: ptr(0.0), ExpungeAfterSeconds: ptr(0.0)},
		KillSelection:       killYoungestFirst}
	as := &appState{Spec: app, Runtime: "v2"}
	f.apps[app.ID] = as
	for i := range n {
		id := fmt.Sprintf("old-%d", i)
		f.instances[id] = &Instance{ID: id, AppID: app.ID, Runtime: "v1", State: "TASK_RUNNING", StagedAt: now.Add(time.Duration(i) * time.Second)}
	}
	f.deployments["d"] = &Deployment{ID: "d", AppID: app.ID, Action: actionRestart}
	return as
}

func killed(f *Framework) int {
	n := 0
	for _, in := range f.instances {
		if in.killing() {
			n++
		}
	}
	return n
}

func TestRollingUpgradeArithmetic(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		n            int
		min, over    float64
		kill, launch int
	}{
		{n: 4, min: 1, over: 1, kill: 0, launch: 4},     // Marathon's default: start all new first
		{n: 4, min: 0.5, over: 0, kill: 2, launch: 2},   // make room by stopping half
		{n: 4, min: 0.5, over: 0.5, kill: 2, launch: 4}, // kill what health allows, fill capacity
		{n: 4, min: 0, over: 0, kill: 4, launch: 4},     // all at once
		{n: 3, min: 0.6, over: 0.4, kill: 1, launch: 2}, // ceil(1.8) = 2 stay; floor(4.2) = 4 may run
	} {
		f := newOffline(t)
		as := rollingApp(f, tc.n, tc.min, tc.over, now)
		f.converge(context.Background(), as, now)
		if k := killed(f); k != tc.kill || as.wanted != tc.launch {
			t.Errorf("n=%d min=%v over=%v: killed %d, launching %d; want %d and %d", tc.n, tc.min, tc.over, k, as.wanted, tc.kill, tc.launch)
		}
	}
}

func TestNewReadyInstancesLetOldOnesGo(t *testing.T) {
	now := time.Unix(1000, 0)
	f := newOffline(t)
	as := rollingApp(f, 2, 1, 1, now)
	f.converge(context.Background(), as, now)
	if killed(f) != 0 || as.wanted != 2 {
		t.Fatalf("first step: killed %d, launching %d", killed(f), as.wanted)
	}
	// One new instance becomes healthy: exactly one old one may go, the
	// oldest-launched survives under YOUNGEST_FIRST.
	f.instances["new-0"] = &Instance{ID: "new-0", AppID: "/r", Runtime: "v2", State: "TASK_RUNNING", StagedAt: now}
	f.instances["new-1"] = &Instance{ID: "new-1", AppID: "/r", Runtime: "v2", State: "TASK_STAGING", StagedAt: now}
	f.converge(context.Background(), as, now)
	if killed(f) != 1 || !f.instances["old-1"].killing() {
		t.Fatalf("after one ready instance: %d killed (old-1 killing: %v)", killed(f), f.instances["old-1"].killing())
	}
}

func TestScaleDownHonoursKillSelection(t *testing.T) {
	now := time.Unix(1000, 0)
	for sel, survivor := range map[string]string{killYoungestFirst: "i-0", killOldestFirst: "i-2"} {
		f := newOffline(t)
		app := &App{ID: "/s", Cmd: "x", Instances: ptr(1), Version: "v1", KillSelection: sel,
			UpgradeStrategy:     &UpgradeStrategy{MinimumHealthCapacity: ptr(1.0), MaximumOverCapacity: ptr(1.0)},
			UnreachableStrategy: &UnreachableStrategy{InactiveAfterSeconds: ptr(0.0), ExpungeAfterSeconds: ptr(0.0)}}
		as := &appState{Spec: app, Runtime: "v1"}
		f.apps[app.ID] = as
		for i := range 3 {
			id := fmt.Sprintf("i-%d", i)
			f.instances[id] = &Instance{ID: id, AppID: app.ID, Runtime: "v1", State: "TASK_RUNNING", StagedAt: now.Add(time.Duration(i) * time.Minute)}
		}
		f.converge(context.Background(), as, now)
		if killed(f) != 2 || f.instances[survivor].killing() {
			t.Errorf("%s: %d killed, survivor %s killing: %v", sel, killed(f), survivor, f.instances[survivor].killing())
		}
	}
}
