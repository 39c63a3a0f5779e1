package service

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventLog records /v2/events (path may carry a query) in order.
type eventLog struct {
	mu     sync.Mutex
	events []loggedEvent
}

type loggedEvent struct {
	typ  string
	data map[string]any
}

func (h *harness) recordEvents(t *testing.T, path string) *eventLog {
	t.Helper()
	resp, err := http.Get(h.api.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	l := &eventLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		typ := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var data map[string]any
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data) == nil {
					l.mu.Lock()
					l.events = append(l.events, loggedEvent{typ, data})
					l.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close(); <-done })
	return l
}

func (l *eventLog) all() []loggedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// first is the index of the first event that matches, or -1.
func (l *eventLog) first(match func(loggedEvent) bool) int {
	return slices.IndexFunc(l.all(), match)
}

func (l *eventLog) last(match func(loggedEvent) bool) int {
	all := l.all()
	for i := len(all) - 1; i >= 0; i-- {
		if match(all[i]) {
			return i
		}
	}
	return -1
}

// waitDone waits for the deployment_success of a plan.
func (l *eventLog) waitDone(t *testing.T, id string) {
	t.Helper()
	waitFor(t, 30*time.Second, "deployment "+id+" to succeed", func() bool {
		return l.first(func(e loggedEvent) bool { return e.typ == "deployment_success" && e.data["id"] == id }) >= 0
	})
}

func status(app, state string) func(loggedEvent) bool {
	return func(e loggedEvent) bool {
		return e.typ == "status_update_event" && e.data["appId"] == app && e.data["taskStatus"] == state
	}
}

func sleeper(id string, instances int, deps ...string) map[string]any {
	return map[string]any{"id": id, "cmd": "sleep 600", "cpus": 0.05, "mem": 8, "instances": instances, "dependencies": deps}
}

// A group deploys as one change: its apps start after what they depend
// on is healthy, and stop, when the group is deleted, before it.
func TestGroupStartsInDependencyOrderAndStopsInReverse(t *testing.T) {
	h := newHarness(t, nil)
	events := h.recordEvents(t, "/v2/events")
	cycle := map[string]any{"id": "/loop", "apps": []any{sleeper("a", 1, "b"), sleeper("b", 1, "a")}}
	if out := h.do("POST", "/v2/groups", cycle, 422); !strings.Contains(string(out), "dependency cycle: /loop/a → /loop/b → /loop/a") {
		t.Errorf("a cycle: %s, want it named", out)
	}
	group := map[string]any{"id": "/shop", "dependencies": nil, "apps": []any{sleeper("web", 2, "back/api")},
		"groups": []any{map[string]any{"id": "back", "apps": []any{sleeper("db", 2), sleeper("api", 1, "db")}}}}
	var created struct{ DeploymentID string }
	json.Unmarshal(h.do("POST", "/v2/groups", group, 201), &created)
	if created.DeploymentID == "" {
		t.Fatal("no deployment ID for the group")
	}
	plans := h.deployments()
	if len(plans) != 1 || plans[0].ID != created.DeploymentID || plans[0].TotalSteps != 3 || len(plans[0].AffectedApps) != 3 {
		t.Fatalf("deployments %+v, want one plan of 3 steps", plans)
	}
	events.waitDone(t, created.DeploymentID)
	for _, pair := range [][2]string{{"/shop/back/db", "/shop/back/api"}, {"/shop/back/api", "/shop/web"}} {
		ready := events.last(status(pair[0], "TASK_RUNNING"))
		staged := events.first(func(e loggedEvent) bool { return e.typ == "status_update_event" && e.data["appId"] == pair[1] })
		if ready < 0 || staged < 0 || staged < ready {
			t.Errorf("%s's first update (event %d) came before %s was running (event %d)", pair[1], staged, pair[0], ready)
		}
	}
	var tree map[string]any
	json.Unmarshal(h.do("GET", "/v2/groups/shop", nil, 200), &tree)
	if tree["id"] != "/shop" || len(tree["apps"].([]any)) != 1 || len(tree["groups"].([]any)) != 1 {
		t.Errorf("GET /v2/groups/shop = %v", tree)
	}
	// Group-wide scale.
	h.do("PUT", "/v2/groups/shop/back", map[string]any{"scaleBy": 1.5}, 200)
	waitFor(t, 30*time.Second, "db scaled to 3", func() bool { n, _ := h.running("/shop/back/db"); return n == 3 && len(h.deployments()) == 0 })
	if n, _ := h.running("/shop/back/api"); n != 2 {
		t.Errorf("api runs %d after scaleBy 1.5, want 2 (rounded up)", n)
	}
	var deleted struct{ DeploymentID string }
	json.Unmarshal(h.do("DELETE", "/v2/groups/shop", nil, 200), &deleted)
	events.waitDone(t, deleted.DeploymentID)
	waitFor(t, 30*time.Second, "the group to be gone", func() bool {
		resp, err := http.Get(h.api.URL + "/v2/groups/shop")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound && len(h.deployments()) == 0
	})
	for _, pair := range [][2]string{{"/shop/web", "/shop/back/api"}, {"/shop/back/api", "/shop/back/db"}} {
		gone := events.last(status(pair[0], "TASK_KILLED"))
		killed := events.first(status(pair[1], "TASK_KILLED"))
		if gone < 0 || killed < 0 || killed < gone {
			t.Errorf("%s stopped (event %d) before its dependent %s was gone (event %d)", pair[1], killed, pair[0], gone)
		}
	}
	// Every deployment event carries its plan, as Marathon's clients read it.
	n := 0
	for _, e := range events.all() {
		switch e.typ {
		case "deployment_info", "deployment_step_success":
			n++
			plan, _ := e.data["plan"].(map[string]any)
			step, _ := e.data["currentStep"].(map[string]any)
			if plan == nil || plan["id"] == nil || step == nil || step["actions"] == nil {
				t.Errorf("%s without plan or currentStep: %v", e.typ, e.data)
			}
		case "instance_kill", "corral_instance_kill", "framework_subscribed":
			t.Errorf("%s reached a stream that did not ask for corral's events", e.typ)
		}
	}
	if n < 6 {
		t.Errorf("%d deployment_info and deployment_step_success events, want the steps of three plans", n)
	}
}

// HTTP callbacks get every event; a receiver that does not answer delays
// nothing.
func TestEventSubscriptionsPostEventsWithoutBlocking(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e struct{ EventType string }
		json.Unmarshal(b, &e)
		mu.Lock()
		got = append(got, e.EventType)
		mu.Unlock()
	}))
	defer receiver.Close()
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client giving up
		<-r.Context().Done()        // never answers in time
	}))
	defer dead.Close()
	h.do("POST", "/v2/eventSubscriptions?callbackUrl="+dead.URL, `""`, 200)
	h.do("POST", "/v2/eventSubscriptions?callbackUrl="+receiver.URL+"/events", `""`, 200)
	h.do("POST", "/v2/eventSubscriptions?callbackUrl=ftp://x", nil, 422)
	var subs struct{ CallbackUrls []string }
	json.Unmarshal(h.do("GET", "/v2/eventSubscriptions", nil, 200), &subs)
	if len(subs.CallbackUrls) != 2 {
		t.Fatalf("subscriptions %v", subs.CallbackUrls)
	}
	h.do("POST", "/v2/apps", sleeper("/cb", 1), 201)
	waitFor(t, 30*time.Second, "the callback to hear the app running", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got, "deployment_success") && slices.Contains(got, "status_update_event")
	})
	// Subscriptions survive a restart of the framework.
	h.stop()
	h.start()
	json.Unmarshal(h.do("GET", "/v2/eventSubscriptions", nil, 200), &subs)
	if len(subs.CallbackUrls) != 2 {
		t.Fatalf("after a restart: subscriptions %v", subs.CallbackUrls)
	}
	h.do("DELETE", "/v2/eventSubscriptions?callbackUrl="+dead.URL, nil, 200)
	h.do("DELETE", "/v2/eventSubscriptions?callbackUrl="+dead.URL, nil, 404)
}

// /v2/leader, /v2/tasks/delete and Marathon's deployment IDs.
func TestLeaderAndKillingTasksByID(t *testing.T) {
	h := newHarness(t, nil)
	var leader struct{ Leader string }
	json.Unmarshal(h.do("GET", "/v2/leader", nil, 200), &leader)
	if leader.Leader != strings.TrimPrefix(h.api.URL, "http://") {
		t.Errorf("leader %q, want %s", leader.Leader, h.api.URL)
	}
	if out := h.do("DELETE", "/v2/leader", nil, 404); !strings.Contains(string(out), "no leader election") {
		t.Errorf("abdicating without an election: %s", out)
	}
	h.do("POST", "/v2/apps", sleeper("/k1", 2), 201)
	h.do("POST", "/v2/apps", sleeper("/k2", 2), 201)
	waitFor(t, 30*time.Second, "four running", func() bool {
		a, _ := h.running("/k1")
		b, _ := h.running("/k2")
		return a == 2 && b == 2 && len(h.deployments()) == 0
	})
	ids := []string{h.tasks("/k1")[0].ID, h.tasks("/k2")[0].ID, "no-such-task"}
	h.do("POST", "/v2/tasks/delete?scale=true&wipe=true", map[string]any{"ids": ids}, 400)
	h.do("POST", "/v2/tasks/delete", map[string]any{"id": ids}, 422)
	var d struct{ DeploymentID string }
	json.Unmarshal(h.do("POST", "/v2/tasks/delete?scale=true", map[string]any{"ids": ids}, 200), &d)
	plans := h.deployments()
	if d.DeploymentID == "" || len(plans) != 1 || plans[0].ID != d.DeploymentID || len(plans[0].AffectedApps) != 2 {
		t.Fatalf("deployment %q, deployments %+v: want one plan for both apps", d.DeploymentID, plans)
	}
	waitFor(t, 30*time.Second, "one of each left", func() bool {
		return len(h.tasks("/k1")) == 1 && len(h.tasks("/k2")) == 1 && len(h.deployments()) == 0
	})
	// wipe: the instance is forgotten at once and replaced.
	victim := h.tasks("/k1")[0].ID
	h.do("POST", "/v2/tasks/delete?wipe=true", map[string]any{"ids": []string{victim}}, 200)
	waitFor(t, 30*time.Second, "a replacement", func() bool {
		tasks := h.tasks("/k1")
		return len(tasks) == 1 && tasks[0].ID != victim && tasks[0].State == "TASK_RUNNING"
	})
}
