package batch

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/store"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// scheduleHarness is a framework that never reaches a master: schedules
// only need its clock and its store.
func scheduleHarness(t *testing.T) (*Framework, *fakeClock, func(method, path string, body any) []byte) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(f.Handler(nil))
	t.Cleanup(api.Close)
	call := func(method, path string, body any) []byte {
		t.Helper()
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(string(b)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	return f, clock, call
}

func jobView(t *testing.T, call func(string, string, any) []byte, id string) JobView {
	var v JobView
	if err := json.Unmarshal(call(http.MethodGet, "/v1/jobs/"+id, nil), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCronSchedulesWithConcurrencyPolicies(t *testing.T) {
	f, clock, call := scheduleHarness(t)
	ctx := context.Background()
	job := Job{ID: "minutely", Cmd: "sleep 300", CPUs: 0.1, Schedule: &Schedule{Cron: "* * * * *", ConcurrencyPolicy: Forbid}}
	call(http.MethodPost, "/v1/jobs", job)
	f.Tick(ctx)
	if v := jobView(t, call, "minutely"); v.NextRun != "2026-11-22T10:01:00Z" || v.LastRun != nil {
		t.Fatalf("after the first tick: next %s, last run %v", v.NextRun, v.LastRun)
	}
	clock.Set(time.Date(2026, 11, 22, 10, 1, 0, 0, time.UTC))
	f.Tick(ctx)
	v := jobView(t, call, "minutely")
	if v.LastRun == nil || v.LastRun.Trigger != "schedule" || !v.LastRun.ScheduledFor.Equal(clock.Now()) {
		t.Fatalf("at 10:01 the run is %+v", v.LastRun)
	}
	// The run is still going at 10:02: Forbid skips.
	clock.Set(time.Date(2026, 11, 22, 10, 2, 5, 0, time.UTC))
	f.Tick(ctx)
	if v := jobView(t, call, "minutely"); v.Skipped != 1 || v.LastRun.ID != "minutely-1" {
		t.Fatalf("Forbid: skipped %d, last run %s", v.Skipped, v.LastRun.ID)
	}
	// Replace stops the active run and starts another.
	job.Schedule.ConcurrencyPolicy = Replace
	call(http.MethodPut, "/v1/jobs/minutely", job)
	f.Tick(ctx) // the changed schedule is planned again
	clock.Set(time.Date(2026, 11, 22, 10, 3, 0, 0, time.UTC))
	f.Tick(ctx)
	var first RunView
	_ = json.Unmarshal(call(http.MethodGet, "/v1/jobs/minutely/runs/minutely-1", nil), &first)
	if v := jobView(t, call, "minutely"); v.LastRun.ID != "minutely-2" || first.Status != Failed || !strings.Contains(first.Reason, "replaced") {
		t.Fatalf("Replace: last run %s, first run %s (%s)", v.LastRun.ID, first.Status, first.Reason)
	}
	// Ten minutes of downtime: nine fire times are missed, one run starts,
	// not ten.
	job.Schedule.ConcurrencyPolicy = Allow
	call(http.MethodPut, "/v1/jobs/minutely", job)
	f.Tick(ctx)
	clock.Set(time.Date(2026, 11, 22, 10, 13, 30, 0, time.UTC))
	f.Tick(ctx)
	if v := jobView(t, call, "minutely"); v.Missed != 9 || v.LastRun.ID != "minutely-3" {
		t.Fatalf("after downtime: missed %d, last run %s", v.Missed, v.LastRun.ID)
	}
	// Past the starting deadline, the run is skipped and counted missed.
	job.Schedule.StartingDeadlineSeconds = 10
	call(http.MethodPut, "/v1/jobs/minutely", job)
	f.Tick(ctx)
	clock.Set(time.Date(2026, 11, 22, 10, 14, 40, 0, time.UTC))
	f.Tick(ctx)
	if v := jobView(t, call, "minutely"); v.Missed != 10 || v.LastRun.ID != "minutely-3" {
		t.Fatalf("late: missed %d, last run %s", v.Missed, v.LastRun.ID)
	}
}

func TestScheduleTimeZones(t *testing.T) {
	f, _, call := scheduleHarness(t)
	call(http.MethodPost, "/v1/jobs", Job{ID: "tokyo", Cmd: "true", CPUs: 0.1, Schedule: &Schedule{Cron: "0 9 * * *", TimeZone: "Asia/Tokyo"}})
	f.Tick(context.Background())
	// 09:00 in Tokyo is 00:00 UTC; the clock is at 10:00 UTC on the 22nd.
	if v := jobView(t, call, "tokyo"); v.NextRun != "2026-11-23T00:00:00Z" {
		t.Fatalf("next run %s, want 2026-11-23T00:00:00Z", v.NextRun)
	}
}
