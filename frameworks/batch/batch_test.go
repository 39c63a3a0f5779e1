package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/internal/testkit"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// harness is a batch framework on a real in-process cluster, with its
// REST API on loopback.
type harness struct {
	t       *testing.T
	cluster *sdktest.Cluster
	master  string // where the framework finds the master; "": the cluster's
	store   store.Store
	f       *Framework
	api     *httptest.Server
	stop    func()
}

func newHarness(t *testing.T, st store.Store) *harness {
	t.Helper()
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	if st == nil {
		var err error
		if st, err = store.OpenLocal(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, cluster: c, store: st}
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	addr := h.master
	if addr == "" {
		addr = h.cluster.MasterAddr
	}
	f, err := New(context.Background(), Config{Master: addr, Store: h.store, Logger: log})
	if err != nil {
		h.t.Fatal(err)
	}
	h.f = f
	h.api = httptest.NewServer(f.Handler(nil))
	stopRun := testkit.RunInBackground(f.Run)
	h.stop = sync.OnceFunc(func() { stopRun(); h.api.Close() })
	h.t.Cleanup(h.stop)
}

func (h *harness) do(method, path string, body any, want int) []byte {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.api.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: %s %s, want %d", method, path, resp.Status, b, want)
	}
	return b
}

// runJob submits job, triggers it and waits for the run to end.
func (h *harness) runJob(job Job) *RunView {
	h.t.Helper()
	h.do(http.MethodPost, "/v1/jobs", job, http.StatusCreated)
	run := &RunView{}
	_ = json.Unmarshal(h.do(http.MethodPost, "/v1/jobs/"+job.ID+"/trigger", nil, http.StatusCreated), run)
	return h.waitRun(job.ID, run.ID)
}

func (h *harness) waitRun(job, run string) *RunView {
	h.t.Helper()
	v := &RunView{}
	sdktest.Eventually(h.t, "run "+run+" to end", func() bool {
		if err := json.Unmarshal(h.do(http.MethodGet, "/v1/jobs/"+job+"/runs/"+run, nil, http.StatusOK), v); err != nil {
			h.t.Fatal(err)
		}
		return v.Status != Running
	})
	return v
}

// updates are the status updates the framework was sent, in order.
func (h *harness) updates() []*mesospb.TaskStatus { return h.cluster.Updates(h.f.FrameworkID()) }

// maxConcurrent replays the updates of a run's tasks and returns the most
// that were running at once.
func (h *harness) maxConcurrent(run string) int {
	running := map[string]bool{}
	most := 0
	for _, st := range h.updates() {
		id := st.GetTaskId().GetValue()
		if !strings.HasPrefix(id, run+".") {
			continue
		}
		if mesospb.IsTerminal(st.GetState()) {
			delete(running, id)
		} else {
			running[id] = true
		}
		most = max(most, len(running))
	}
	return most
}

func TestCompletionsWithBoundedParallelism(t *testing.T) {
	h := newHarness(t, nil)
	// Tasks long enough to overlap even when launches are slow (a loaded
	// machine), short enough to keep the test quick.
	run := h.runJob(Job{ID: "twenty", Cmd: "sleep 0.6", CPUs: 0.1, Mem: 16, Completions: 20, Parallelism: 5})
	if run.Status != Succeeded || run.Succeeded != 20 || run.FailedAttempts != 0 {
		t.Fatalf("run = %+v", run.Run)
	}
	if most := h.maxConcurrent(run.ID); most > 5 || most < 2 {
		t.Fatalf("at most %d tasks ran at once, want between 2 and 5", most)
	}
	// Distinct tasks: an update may arrive twice (at-least-once delivery
	// re-sends one whose acknowledgement was slow).
	finished := map[string]bool{}
	for _, st := range h.updates() {
		if st.GetState() == mesospb.TaskState_TASK_FINISHED && strings.HasPrefix(st.GetTaskId().GetValue(), run.ID+".") {
			finished[st.GetTaskId().GetValue()] = true
		}
	}
	if len(finished) != 20 {
		t.Fatalf("%d tasks finished, want exactly 20", len(finished))
	}
}

func TestRetriesDeadlinesAndTimeouts(t *testing.T) {
	h := newHarness(t, nil)
	counter := filepath.Join(t.TempDir(), "attempts")
	flaky := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; [ $n -ge 3 ]`, counter)
	if run := h.runJob(Job{ID: "flaky", Cmd: flaky, CPUs: 0.1, Mem: 16, Retries: 3, BackoffSeconds: 0.05}); run.Status != Succeeded || run.FailedAttempts != 2 {
		t.Fatalf("flaky run = %+v, want success after 2 failures", run.Run)
	}
	run := h.runJob(Job{ID: "broken", Cmd: "exit 3", CPUs: 0.1, Mem: 16, Retries: 1, BackoffSeconds: 0.05})
	if run.Status != Failed || !strings.Contains(run.Reason, "failed 2 times") {
		t.Fatalf("broken run = %+v, want failure after 2 attempts", run.Run)
	}
	run = h.runJob(Job{ID: "slow", Cmd: "sleep 30", CPUs: 0.1, Mem: 16, ActiveDeadlineSeconds: 0.5})
	if run.Status != Failed || !strings.Contains(run.Reason, "activeDeadlineSeconds") {
		t.Fatalf("slow run = %+v, want a deadline failure", run.Run)
	}
	sdktest.Eventually(t, "the slow task to be killed", func() bool {
		for _, st := range h.updates() {
			if strings.HasPrefix(st.GetTaskId().GetValue(), run.ID+".") && st.GetState() == mesospb.TaskState_TASK_KILLED {
				return true
			}
		}
		return false
	})
	run = h.runJob(Job{ID: "stuck", Cmd: "sleep 30", CPUs: 0.1, Mem: 16, MaxCompletionTimeSeconds: 0.3})
	if run.Status != Failed || !strings.Contains(run.Reason, "REASON_MAX_COMPLETION_TIME_REACHED") {
		t.Fatalf("stuck run = %+v, want the agent to stop it at its max completion time", run.Run)
	}
}

func TestDependenciesRunInOrderAndCyclesAreRefused(t *testing.T) {
	h := newHarness(t, nil)
	for _, j := range []Job{
		{ID: "a", Cmd: "sleep 0.1", CPUs: 0.1, Mem: 16},
		{ID: "b", Cmd: "sleep 0.1", CPUs: 0.1, Mem: 16, DependsOn: []string{"a"}},
		{ID: "c", Cmd: "sleep 0.1", CPUs: 0.1, Mem: 16, DependsOn: []string{"a"}},
		{ID: "d", Cmd: "true", CPUs: 0.1, Mem: 16, DependsOn: []string{"b", "c"}},
	} {
		h.do(http.MethodPost, "/v1/jobs", j, http.StatusCreated)
	}
	text := string(h.do(http.MethodPut, "/v1/jobs/a", Job{ID: "a", Cmd: "true", CPUs: 0.1, DependsOn: []string{"d"}}, http.StatusUnprocessableEntity))
	if !strings.Contains(text, "cycle a → d → b → a") {
		t.Fatalf("cycle refused with %s", text)
	}
	h.do(http.MethodPost, "/v1/jobs/a/trigger", nil, http.StatusCreated)
	var d JobView
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("jobs: %s", h.do(http.MethodGet, "/v1/jobs", nil, http.StatusOK))
		}
	})
	sdktest.Eventually(t, "d to run", func() bool {
		_ = json.Unmarshal(h.do(http.MethodGet, "/v1/jobs/d", nil, http.StatusOK), &d)
		return d.LastRun != nil && d.LastRun.Status == Succeeded
	})
	get := func(id string) *RunView {
		var v JobView
		_ = json.Unmarshal(h.do(http.MethodGet, "/v1/jobs/"+id, nil, http.StatusOK), &v)
		return v.LastRun
	}
	a, b, c := get("a"), get("b"), get("c")
	for _, child := range []*RunView{b, c} {
		if child.Trigger != "dependency" || child.Created.Before(a.Finished) {
			t.Fatalf("run %s (%s at %v) did not wait for a (finished %v)", child.ID, child.Trigger, child.Created, a.Finished)
		}
		if d.LastRun.Created.Before(child.Finished) {
			t.Fatalf("d started at %v before %s finished at %v", d.LastRun.Created, child.ID, child.Finished)
		}
	}
}

func TestRestartMidRunAdoptsTasks(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, st)
	h.do(http.MethodPost, "/v1/jobs", Job{ID: "long", Cmd: "sleep 1", CPUs: 0.1, Mem: 16, Completions: 6, Parallelism: 3}, http.StatusCreated)
	run := &RunView{}
	_ = json.Unmarshal(h.do(http.MethodPost, "/v1/jobs/long/trigger", nil, http.StatusCreated), run)
	sdktest.Eventually(t, "three tasks running", func() bool { return h.maxConcurrent(run.ID) == 3 })
	id := h.f.FrameworkID()
	h.stop()

	h.start() // a new instance on the same store
	final := h.waitRun("long", run.ID)
	if final.Status != Succeeded || final.Succeeded != 6 || final.FailedAttempts != 0 {
		t.Fatalf("run after restart = %+v", final.Run)
	}
	if h.f.FrameworkID() != id {
		t.Fatalf("the restarted framework is %s, want %s", h.f.FrameworkID(), id)
	}
	launched := map[string]bool{}
	for _, u := range h.updates() {
		launched[u.GetTaskId().GetValue()] = true
	}
	if len(launched) != 6 {
		t.Fatalf("%d distinct tasks ran (%v), want 6: none rerun", len(launched), launched)
	}
}

func TestJobsAreValidated(t *testing.T) {
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(context.Background(), Config{Master: "127.0.0.1:1", Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(f.Handler(nil))
	defer api.Close()
	post := func(body string) (int, string) {
		resp, err := http.Post(api.URL+"/v1/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for body, want := range map[string]string{
		`{`:                                 "invalid job JSON",
		`{"id":"x","cmd":"true","cpu":1}`:   "unknown field",
		`{"id":"X!","cmd":"true","cpus":1}`: "lowercase",
		`{"id":"x","cpus":1}`:               "cmd or args",
		`{"id":"x","cmd":"true"}`:           "cpus or mem",
		`{"id":"x","cmd":"true","cpus":1,"completions":-1}`:                                    "completions",
		`{"id":"x","cmd":"true","cpus":1,"schedule":{"cron":"every day"}}`:                     "schedule",
		`{"id":"x","cmd":"true","cpus":1,"schedule":{"cron":"* * * * *","timeZone":"Mars/X"}}`: "timeZone",
		`{"id":"x","cmd":"true","cpus":1,"dependsOn":["nope"]}`:                                "does not exist",
		`{"id":"x","cmd":"true","cpus":1,"constraints":[["hostname","NEAR","a"]]}`:             "constraint",
		`{"id":"x","cmd":"true","cpus":1,"constraints":[["hostname","LIKE"]]}`:                 "needs a value", // panicked (found by fuzzing)
	} {
		if status, text := post(body); status/100 != 4 || !strings.Contains(text, want) {
			t.Errorf("%s: %d %s, want 4xx mentioning %q", body, status, text, want)
		}
	}
	if status, _ := post(`{"id":"ok","cmd":"true","cpus":1}`); status != http.StatusCreated {
		t.Fatalf("a valid job: %d", status)
	}
	if status, _ := post(`{"id":"ok","cmd":"true","cpus":1}`); status != http.StatusConflict {
		t.Fatalf("a duplicate job: %d, want 409", status)
	}
	// A job from an image may leave its command to the image.
	if status, text := post(`{"id":"from-image","image":"127.0.0.1:5000/busybox:1","cpus":1}`); status != http.StatusCreated {
		t.Fatalf("a job from an image without cmd: %d %s", status, text)
	}
	resp, _ := http.Get(api.URL + "/v1/jobs/missing/runs")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("runs of a missing job: %d", resp.StatusCode)
	}
}

func TestConstraintsHistoryAndIdleSuppression(t *testing.T) {
	h := newHarness(t, nil)
	run := h.runJob(Job{ID: "pinned", Cmd: "true", CPUs: 0.1, Mem: 16, Completions: 4, Parallelism: 4,
		Constraints: [][]string{{"hostname", "LIKE", "agent-1"}}, TTLSecondsAfterFinished: 0.2})
	if run.Status != Succeeded {
		t.Fatalf("run = %+v", run.Run)
	}
	var full RunView
	_ = json.Unmarshal(h.do(http.MethodGet, "/v1/jobs/pinned/runs/"+run.ID, nil, http.StatusOK), &full)
	if len(full.TaskList) != 4 {
		t.Fatalf("run lists %d tasks, want 4", len(full.TaskList))
	}
	for _, task := range full.TaskList {
		if task.Hostname != "agent-1" || task.Finished.IsZero() {
			t.Fatalf("task %d ran on %q (finished %v), want agent-1", task.Index, task.Hostname, task.Finished)
		}
	}
	// A second run: the first, now older than its TTL and not the latest,
	// leaves the history.
	second := &RunView{}
	_ = json.Unmarshal(h.do(http.MethodPost, "/v1/jobs/pinned/trigger", nil, http.StatusCreated), second)
	h.waitRun("pinned", second.ID)
	sdktest.Eventually(t, "the first run to expire", func() bool {
		var runs []*RunView
		_ = json.Unmarshal(h.do(http.MethodGet, "/v1/jobs/pinned/runs", nil, http.StatusOK), &runs)
		return len(runs) == 1 && runs[0].ID == second.ID
	})
	// Idle, the framework has suppressed its offers: the master says so.
	sdktest.Eventually(t, "the master to report the idle framework suppressed", func() bool {
		why, err := h.cluster.Unoffered(context.Background(), h.f.FrameworkID())
		return err == nil && why["suppressed"] > 0
	})
}
