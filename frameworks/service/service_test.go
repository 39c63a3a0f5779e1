package service

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-sched/corral/master"
)

func TestUniqueHostnameLeavesTheFourthWaitingAndQueueSaysWhy(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v2/apps", map[string]any{
		"id": "/web/unique", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 4,
		"constraints": [][]string{{"hostname", "UNIQUE"}},
	}, 201)
	waitFor(t, 20*time.Second, "three instances running", func() bool {
		n, _ := h.running("/web/unique")
		return n == 3
	})
	hosts := map[string]bool{}
	for _, task := range h.tasks("/web/unique") {
		hosts[task.Host] = true
	}
	if len(hosts) != 3 {
		t.Fatalf("instances on %d hosts, want 3 distinct: %v", len(hosts), hosts)
	}
	var q struct {
		Queue []struct {
			Count                  int
			Why                    string
			ProcessedOffersSummary struct {
				ProcessedOffersCount    int
				RejectSummaryLastOffers []struct {
					Reason   string
					Declined int
				}
			}
		}
	}
	waitFor(t, 20*time.Second, "the queue to show the constraint", func() bool {
		if err := json.Unmarshal(h.do("GET", "/v2/queue", nil, 200), &q); err != nil {
			t.Fatal(err)
		}
		if len(q.Queue) != 1 || len(q.Queue[0].ProcessedOffersSummary.RejectSummaryLastOffers) == 0 {
			return false
		}
		return q.Queue[0].ProcessedOffersSummary.RejectSummaryLastOffers[0].Reason == reasonConstraint
	})
	if q.Queue[0].Count != 1 || !strings.Contains(q.Queue[0].Why, "constraints not met") {
		t.Fatalf("queue entry: count %d, why %q; want 1 waiting because of constraints", q.Queue[0].Count, q.Queue[0].Why)
	}
	// Still exactly three: the fourth never lands on a used host.
	if n, _ := h.running("/web/unique"); n != 3 {
		t.Fatalf("%d running, want 3", n)
	}
}

func TestAppRunsWithMarathonsEnvironmentAndScales(t *testing.T) {
	h := newHarness(t, nil)
	out := filepath.Join(t.TempDir(), "env")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v2/apps", map[string]any{
		"id": "envy", "cmd": fmt.Sprintf("env > %s/$MESOS_TASK_ID; sleep 300", out), "cpus": 0.1, "mem": 16,
		"labels":          map[string]string{"tier": "front", "team": "a"},
		"portDefinitions": []map[string]any{{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}},
		"env":             map[string]string{"GREETING": "hi"},
	}, 201)
	var env string
	waitFor(t, 20*time.Second, "the instance to write its environment and the deployment to end", func() bool {
		entries, _ := os.ReadDir(out)
		if len(entries) != 1 {
			return false
		}
		raw, _ := os.ReadFile(filepath.Join(out, entries[0].Name()))
		env = string(raw)
		return strings.Contains(env, "MESOS_TASK_ID=") && len(h.deployments()) == 0
	})
	tasks := h.tasks("/envy")
	if len(tasks) != 1 || len(tasks[0].Ports) != 2 {
		t.Fatalf("tasks %+v, want one with two ports", tasks)
	}
	for _, want := range []string{
		"MARATHON_APP_ID=/envy", "GREETING=hi", "MARATHON_APP_LABEL_TIER=front",
		fmt.Sprintf("PORT0=%d", tasks[0].Ports[0]), fmt.Sprintf("PORT1=%d", tasks[0].Ports[1]),
		fmt.Sprintf("PORT_HTTP=%d", tasks[0].Ports[0]), fmt.Sprintf("PORT_ADMIN=%d", tasks[0].Ports[1]),
		"MESOS_TASK_ID=" + tasks[0].ID, "HOST=" + tasks[0].Host,
	} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("environment lacks %s", want)
		}
	}
	// Scale with a partial PUT, as Marathon clients do; label selectors
	// find the app.
	var put struct{ DeploymentID string }
	json.Unmarshal(h.do("PUT", "/v2/apps/envy", map[string]any{"instances": 3}, 200), &put)
	if put.DeploymentID == "" {
		t.Fatal("PUT returned no deploymentId")
	}
	waitFor(t, 20*time.Second, "three instances and no deployment", func() bool {
		n, _ := h.running("/envy")
		return n == 3 && len(h.deployments()) == 0
	})
	// The first instance was not restarted by the scale.
	if !slices.ContainsFunc(h.tasks("/envy"), func(v TaskView) bool { return v.ID == tasks[0].ID }) {
		t.Fatal("scaling restarted the existing instance")
	}
	for sel, want := range map[string]int{"tier==front": 1, "tier!=front": 0, "team in (a, b)": 1, "team notin (a)": 0, "tier": 1, "nope": 0} {
		var v struct{ Apps []AppView }
		json.Unmarshal(h.do("GET", "/v2/apps?label="+urlEscape(sel), nil, 200), &v)
		if len(v.Apps) != want {
			t.Errorf("label=%q matched %d apps, want %d", sel, len(v.Apps), want)
		}
	}
	h.do("GET", "/v2/apps?label="+urlEscape("a in (b"), nil, 400)
	var versions struct{ Versions []string }
	json.Unmarshal(h.do("GET", "/v2/apps/envy/versions", nil, 200), &versions)
	if len(versions.Versions) != 2 {
		t.Fatalf("versions %v, want 2", versions.Versions)
	}
	var old App
	json.Unmarshal(h.do("GET", "/v2/apps/envy/versions/"+versions.Versions[1], nil, 200), &old)
	if *old.Instances != 1 {
		t.Fatalf("the first version has %d instances, want 1", *old.Instances)
	}
	// Delete: every instance is killed and the app disappears.
	h.do("DELETE", "/v2/apps/envy", nil, 200)
	waitFor(t, 20*time.Second, "the app to be gone", func() bool {
		resp, err := http.Get(h.api.URL + "/v2/apps/envy")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 404
	})
}

func urlEscape(s string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "=", "%3D", "!", "%21", ",", "%2C").Replace(s)
}

// TestRollingUpgradeKeepsHealthyCapacityAndRollsBack samples the app
// throughout an upgrade: healthy instances never drop below
// minimumHealthCapacity × instances, running ones never exceed
// (1 + maximumOverCapacity) × instances. A version whose health check
// fails stalls, and deleting its deployment rolls back.
func TestRollingUpgradeKeepsHealthyCapacityAndRollsBack(t *testing.T) {
	h := newHarness(t, nil)
	app := webApp("/roll", 4, "ok")
	app["upgradeStrategy"] = map[string]any{"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
	h.do("POST", "/v2/apps", app, 201)
	waitFor(t, 30*time.Second, "four healthy instances", func() bool {
		_, healthy := h.running("/roll")
		return healthy == 4 && len(h.deployments()) == 0
	})
	first := h.tasks("/roll")

	var violations []string
	var mu sync.Mutex
	var stop atomic.Bool
	sampled := make(chan int)
	go func() {
		n := 0
		for !stop.Load() {
			running, healthy := h.running("/roll")
			if healthy < 2 || running > 6 {
				mu.Lock()
				violations = append(violations, fmt.Sprintf("running %d healthy %d", running, healthy))
				mu.Unlock()
			}
			n++
		}
		sampled <- n
	}()
	app["env"] = map[string]string{"HEALTH": "ok", "V": "2"}
	h.do("PUT", "/v2/apps/roll", app, 200)
	waitFor(t, 60*time.Second, "the upgrade to finish", func() bool {
		return len(h.deployments()) == 0
	})
	stop.Store(true)
	if n := <-sampled; n < 5 {
		t.Fatalf("only %d samples taken", n)
	}
	if len(violations) > 0 {
		t.Fatalf("upgrade strategy broken: %v", violations)
	}
	second := h.tasks("/roll")
	if len(second) != 4 {
		t.Fatalf("%d tasks after the upgrade, want 4", len(second))
	}
	for _, task := range second {
		if slices.ContainsFunc(first, func(v TaskView) bool { return v.ID == task.ID }) {
			t.Fatalf("task %s of the old version survived the upgrade", task.ID)
		}
	}

	// A bad version: its instances never pass the check; the deployment
	// stalls with the healthy old ones kept.
	bad := webApp("/roll", 4, "fail")
	bad["upgradeStrategy"] = app["upgradeStrategy"]
	var put struct{ DeploymentID, Version string }
	json.Unmarshal(h.do("PUT", "/v2/apps/roll", bad, 200), &put)
	waitFor(t, 30*time.Second, "the bad version's instances to fail their checks", func() bool {
		unhealthy := 0
		for _, task := range h.tasks("/roll") {
			if len(task.HealthCheckResults) > 0 && task.HealthCheckResults[0]["alive"] == false {
				unhealthy++
			}
		}
		return unhealthy > 0
	})
	if _, healthy := h.running("/roll"); healthy < 2 {
		t.Fatalf("%d healthy during the bad upgrade, want at least 2", healthy)
	}
	if d := h.deployments(); len(d) != 1 || d[0].ID != put.DeploymentID {
		t.Fatalf("deployments %+v, want the stalled %s", d, put.DeploymentID)
	}
	// A conflicting change is refused.
	h.do("PUT", "/v2/apps/roll", map[string]any{"instances": 5}, 409)
	h.do("DELETE", "/v2/deployments/"+put.DeploymentID, nil, 200)
	waitFor(t, 60*time.Second, "the rollback to finish with four healthy", func() bool {
		_, healthy := h.running("/roll")
		return len(h.deployments()) == 0 && healthy == 4
	})
	var got struct{ App AppView }
	json.Unmarshal(h.do("GET", "/v2/apps/roll", nil, 200), &got)
	if got.App.Env["HEALTH"] != "ok" || got.App.Env["V"] != "2" {
		t.Fatalf("after rollback the app's env is %v, want the previous version's", got.App.Env)
	}
	for _, task := range h.tasks("/roll") {
		if task.Version == put.Version {
			t.Fatalf("task %s of the bad version %s survived the rollback", task.ID, put.Version)
		}
	}
}

func TestKilledInstanceIsReplacedAndCrashLoopsBackOff(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v2/apps", map[string]any{"id": "/steady", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 2}, 201)
	waitFor(t, 20*time.Second, "two running", func() bool { n, _ := h.running("/steady"); return n == 2 })
	victim := h.tasks("/steady")[0].ID
	h.do("DELETE", "/v2/apps/steady/tasks/"+victim, nil, 200)
	waitFor(t, 20*time.Second, "a replacement", func() bool {
		tasks := h.tasks("/steady")
		n, _ := h.running("/steady")
		return n == 2 && !slices.ContainsFunc(tasks, func(v TaskView) bool { return v.ID == victim })
	})
	// scale=true kills without replacing.
	h.do("DELETE", "/v2/apps/steady/tasks/"+h.tasks("/steady")[0].ID+"?scale=true", nil, 200)
	waitFor(t, 20*time.Second, "one instance left", func() bool { return len(h.tasks("/steady")) == 1 })

	// A crash loop: every launch fails at once; launches are spaced by a
	// growing delay (0.2 s × 2^n).
	var mu sync.Mutex
	var staged []time.Time
	events := h.subscribeEvents(t, func(typ string, data map[string]any) {
		if typ == "status_update_event" && data["appId"] == "/crash" && data["taskStatus"] == "TASK_FAILED" {
			mu.Lock()
			staged = append(staged, time.Now())
			mu.Unlock()
		}
	})
	defer events()
	h.do("POST", "/v2/apps", map[string]any{"id": "/crash", "cmd": "exit 3", "cpus": 0.1, "mem": 16,
		"backoffSeconds": 0.2, "backoffFactor": 2, "maxLaunchDelaySeconds": 10}, 201)
	waitFor(t, 30*time.Second, "five failures", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(staged) >= 5
	})
	mu.Lock()
	var gaps []time.Duration
	for i := 1; i < len(staged); i++ {
		gaps = append(gaps, staged[i].Sub(staged[i-1]))
	}
	mu.Unlock()
	// After the n-th failure the next launch waits 0.2 s × 2^(n-1).
	for i, gap := range gaps {
		if want := 200 * time.Millisecond << i; gap < want {
			t.Fatalf("gaps between failures %v: gap %d is shorter than its backoff %v", gaps, i+1, want)
		}
	}
	var app struct{ App AppView }
	json.Unmarshal(h.do("GET", "/v2/apps/crash", nil, 200), &app)
	if app.App.LastTaskFail == nil || app.App.LastTaskFail.State != "TASK_FAILED" {
		t.Fatalf("lastTaskFailure = %+v, want a TASK_FAILED", app.App.LastTaskFail)
	}
	var q struct {
		Queue []struct {
			Delay struct{ TimeLeftSeconds int }
			Why   string
		}
	}
	waitFor(t, 10*time.Second, "the queue to show the backoff", func() bool {
		json.Unmarshal(h.do("GET", "/v2/queue", nil, 200), &q)
		return len(q.Queue) == 1 && strings.Contains(q.Queue[0].Why, "backoff")
	})
}

// subscribeEvents reads /v2/events until the returned stop is called.
func (h *harness) subscribeEvents(t *testing.T, fn func(typ string, data map[string]any)) func() {
	t.Helper()
	req, _ := http.NewRequest("GET", h.api.URL+"/v2/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		typ := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var data map[string]any
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data) == nil {
					fn(typ, data)
				}
			}
		}
	}()
	return func() { resp.Body.Close(); <-done }
}

func TestUnreachableAgentsInstancesAreReplacedAndKilledWhenTheyReturn(t *testing.T) {
	c := startCluster(t, 3, func(mc *master.Config) {
		mc.AgentPingTimeout = 100 * time.Millisecond
		mc.MaxAgentPingTimeouts = 3
	})
	h := newHarness(t, c)
	h.do("POST", "/v2/apps", map[string]any{"id": "/away", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 2,
		"constraints":         [][]string{{"hostname", "UNIQUE"}},
		"unreachableStrategy": map[string]any{"inactiveAfterSeconds": 1, "expungeAfterSeconds": 600}}, 201)
	waitFor(t, 20*time.Second, "two running", func() bool { n, _ := h.running("/away"); return n == 2 })
	lost := h.tasks("/away")[0]
	idx := int(lost.Host[len(lost.Host)-1] - '0')
	c.StopAgent(idx)
	waitFor(t, 20*time.Second, "the instance to be unreachable", func() bool {
		for _, task := range h.tasks("/away") {
			if task.ID == lost.ID {
				return task.Unreachable
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "a replacement on the third agent", func() bool {
		hosts := map[string]bool{}
		for _, task := range h.tasks("/away") {
			if task.State == "TASK_RUNNING" && !task.Unreachable && !task.Killing {
				hosts[task.Host] = true
			}
		}
		return len(hosts) == 2 && !hosts[lost.Host]
	})
	if _, err := c.RestartAgent(idx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the returning instance to be killed", func() bool {
		return !slices.ContainsFunc(h.tasks("/away"), func(v TaskView) bool { return v.ID == lost.ID })
	})
	if n, _ := h.running("/away"); n != 2 {
		t.Fatalf("%d running after the agent returned, want 2", n)
	}
}

// TestRestartAdoptsEveryInstance restarts the framework with twenty
// instances running: the same tasks are there afterwards and none was
// killed or duplicated.
func TestRestartAdoptsEveryInstance(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v2/apps", map[string]any{"id": "/twenty", "cmd": "sleep 300", "cpus": 0.05, "mem": 8, "instances": 20}, 201)
	waitFor(t, 30*time.Second, "twenty running", func() bool { n, _ := h.running("/twenty"); return n == 20 })
	before := h.tasks("/twenty")
	h.stop()
	h.start()
	waitFor(t, 30*time.Second, "the new framework instance to reconcile", func() bool {
		n, _ := h.running("/twenty")
		return n == 20 && h.f.FrameworkID() != ""
	})
	// Scale by one: the deployment finishing means offers and updates
	// went round at least once with the adopted instances counted.
	h.do("PUT", "/v2/apps/twenty", map[string]any{"instances": 21}, 200)
	waitFor(t, 30*time.Second, "the scale to deploy", func() bool { return len(h.deployments()) == 0 })
	after := h.tasks("/twenty")
	if len(after) != 21 {
		t.Fatalf("%d tasks after the restart and scale, want 21", len(after))
	}
	for _, task := range before {
		if !slices.ContainsFunc(after, func(v TaskView) bool { return v.ID == task.ID && v.State == "TASK_RUNNING" }) {
			t.Fatalf("task %s was not adopted", task.ID)
		}
	}
}

func TestAPIRejectsBadInputClearly(t *testing.T) {
	h := newHarness(t, startCluster(t, 1, nil))
	var v struct {
		Message string
		Details []Violation
	}
	json.Unmarshal(h.do("POST", "/v2/apps", `{"id":"/x","cmd":"sleep 1","executor":"//cmd"}`, 422), &v)
	if v.Message != "Object is not valid" || len(v.Details) != 1 || v.Details[0].Path != "/executor" {
		t.Fatalf("422 body %+v, want Marathon's shape naming /executor", v)
	}
	h.do("POST", "/v2/apps", `{"id":"/x","cmd":"sleep 300","cpus":0.1,"mem":8}`, 201)
	h.do("POST", "/v2/apps", `{"id":"/x","cmd":"sleep 300"}`, 409)
	h.do("GET", "/v2/apps/nope", nil, 404)
	h.do("DELETE", "/v2/apps/nope", nil, 404)
	h.do("POST", "/v2/apps/nope/restart", nil, 404)
	h.do("DELETE", "/v2/deployments/nope", nil, 404)
	h.do("PUT", "/v2/apps/x?force=maybe", `{}`, 400)
	h.do("PUT", "/v2/apps/x", `{"id":"/y"}`, 422)
	h.do("PUT", "/v2/apps/x", `{"instances":-1}`, 422)
	h.do("GET", "/v2/apps/Bad_Id", nil, 400)
	h.do("GET", "/v2/apps?embed=apps.everything", nil, 400)
	h.do("DELETE", "/v2/apps/x/tasks", nil, 400)
	h.do("PATCH", "/v2/apps/x", `{}`, 405)
	req, _ := http.NewRequest("POST", h.api.URL+"/v2/apps", strings.NewReader("id: x"))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("YAML body: %d, want 415", resp.StatusCode)
	}
	big := `{"id":"/big","cmd":"` + strings.Repeat("x", maxAppBytes) + `"}`
	h.do("POST", "/v2/apps", big, 413)
	if got := string(h.do("GET", "/ping", nil, 200)); got != "pong\n" {
		t.Fatalf("/ping = %q", got)
	}
	metrics := string(h.do("GET", "/metrics", nil, 200))
	if !strings.Contains(metrics, "corral_service_apps 1") {
		t.Fatalf("metrics lack corral_service_apps 1:\n%s", metrics)
	}
}

// TestReadinessGatesTheDeployment: instances that are running and healthy
// but not yet ready do not finish a deployment.
func TestReadinessGatesTheDeployment(t *testing.T) {
	h := newHarness(t, nil)
	app := webApp("/warm", 2, "ok")
	app["env"] = map[string]string{"READY_AFTER": "1500ms"}
	app["readinessChecks"] = []map[string]any{{"protocol": "HTTP", "path": "/ready", "portName": "http", "intervalSeconds": 0.1, "timeoutSeconds": 0.1}}
	start := time.Now()
	h.do("POST", "/v2/apps", app, 201)
	waitFor(t, 30*time.Second, "two healthy instances", func() bool { _, healthy := h.running("/warm"); return healthy == 2 })
	if time.Since(start) < 1500*time.Millisecond {
		if d := h.deployments(); len(d) != 1 || d[0].Progress["ready"] == 2 {
			t.Fatalf("deployments %+v while the instances are not ready yet", d)
		}
	}
	waitFor(t, 30*time.Second, "the deployment to finish", func() bool { return len(h.deployments()) == 0 })
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("the deployment finished after %v, before the instances were ready (1.5 s)", took)
	}
	for _, task := range h.tasks("/warm") {
		if !task.Ready {
			t.Fatalf("task %s not ready after the deployment", task.ID)
		}
	}
}

// TestHealthKillsAreRateLimited: when every instance fails its check at
// once (a sick dependency), they are not all killed at once.
func TestHealthKillsAreRateLimited(t *testing.T) {
	h := newHarness(t, nil)
	sick := filepath.Join(t.TempDir(), "sick")
	app := webApp("/fragile", 4, "ok")
	app["env"] = map[string]string{"SICK_FILE": sick}
	h.do("POST", "/v2/apps", app, 201)
	waitFor(t, 30*time.Second, "four healthy", func() bool {
		_, healthy := h.running("/fragile")
		return healthy == 4 && len(h.deployments()) == 0
	})
	var mu sync.Mutex
	var kills []time.Time
	stop := h.subscribeEvents(t, func(typ string, data map[string]any) {
		if typ == "unhealthy_instance_kill_event" && data["appId"] == "/fragile" {
			mu.Lock()
			kills = append(kills, time.Now())
			mu.Unlock()
		}
	})
	defer stop()
	if err := os.WriteFile(sick, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every instance to fail its check", func() bool {
		unhealthy := 0
		for _, task := range h.tasks("/fragile") {
			if len(task.HealthCheckResults) > 0 && task.HealthCheckResults[0]["alive"] == false {
				unhealthy++
			}
		}
		return unhealthy >= 3
	})
	waitFor(t, 30*time.Second, "the first health kill", func() bool { mu.Lock(); defer mu.Unlock(); return len(kills) >= 1 })
	// Every instance has failed long past maxConsecutiveFailures; only the
	// rate limit keeps them. Watch a few check intervals.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(kills)
		mu.Unlock()
		if n > 1 {
			t.Fatalf("%d health kills within %v of the first; want one per window", n, time.Since(deadline.Add(-3*time.Second)))
		}
		time.Sleep(50 * time.Millisecond) // sampling
	}
	if err := os.Remove(sick); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "four healthy again", func() bool { _, healthy := h.running("/fragile"); return healthy == 4 })
}

// TestInstancesMoveOffMachinesScheduledForMaintenance: the framework
// accepts the inverse offer and replaces the instance elsewhere, keeping
// the app's healthy capacity.
func TestInstancesMoveOffMachinesScheduledForMaintenance(t *testing.T) {
	h := newHarness(t, nil)
	h.do("POST", "/v2/apps", map[string]any{"id": "/mobile", "cmd": "sleep 300", "cpus": 0.1, "mem": 16, "instances": 2,
		"constraints": [][]string{{"hostname", "UNIQUE"}}}, 201)
	waitFor(t, 20*time.Second, "two running", func() bool { n, _ := h.running("/mobile"); return n == 2 })
	moving := h.tasks("/mobile")[0]
	start := time.Now().Add(time.Hour).UnixNano()
	call := fmt.Sprintf(`{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[
		{"machine_ids":[{"hostname":%q}],"unavailability":{"start":{"nanoseconds":%d}}}]}}}`, moving.Host, start)
	resp, err := http.Post(h.cluster.MasterURL+"/api/v1", "application/json", strings.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %s", resp.Status)
	}
	waitFor(t, 30*time.Second, "the instance to move off "+moving.Host, func() bool {
		tasks := h.tasks("/mobile")
		n, _ := h.running("/mobile")
		return n == 2 && len(tasks) == 2 && !slices.ContainsFunc(tasks, func(v TaskView) bool { return v.Host == moving.Host })
	})
	status := struct {
		GetMaintenanceStatus struct {
			Status struct {
				DrainingMachines []struct {
					Statuses []struct{ Status string }
				} `json:"draining_machines"`
			}
		} `json:"get_maintenance_status"`
	}{}
	resp, err = http.Post(h.cluster.MasterURL+"/api/v1", "application/json", strings.NewReader(`{"type":"GET_MAINTENANCE_STATUS"}`))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	dm := status.GetMaintenanceStatus.Status.DrainingMachines
	if len(dm) != 1 || len(dm[0].Statuses) != 1 || dm[0].Statuses[0].Status != "ACCEPT" {
		t.Fatalf("maintenance status %+v, want the framework's ACCEPT", status)
	}
}
