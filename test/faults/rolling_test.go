package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
)

// identity is what may run once: a pet's name ("kv-1" of task "kv-1.3"),
// or any other task's ID (an app's instance "web.<uuid>").
func identity(taskID string) string {
	i := strings.LastIndexByte(taskID, '.')
	if i > 0 && strings.Trim(taskID[i+1:], "0123456789") == "" {
		return taskID[:i]
	}
	return taskID
}

// service is the service framework running on a node of its own.
type service struct {
	c   *cluster.Cluster
	api string
}

func startService(c *cluster.Cluster) *service {
	n := c.AddProcess("service", 8080, "service", "--listen", "{addr}", "--zk", c.ZKURL(), "--zk-session-timeout", "2s", "--work-dir", "{dir}")
	return &service{c: c, api: "http://" + n.Addr}
}

func (s *service) call(t *testing.T, method, path, body string, want int) {
	t.Helper()
	callUntil(t, s.c, method, s.api+path, body, want)
}

// callUntil sends a request until it is answered with want (a framework
// may be failing over, or not subscribed yet).
func callUntil(t *testing.T, c *cluster.Cluster, method, url, body string, want int) {
	t.Helper()
	var last string
	if !cluster.Poll(60*time.Second, func() bool {
		status, b, err := c.HTTP(method, url, body)
		last = fmt.Sprintf("%d %s %v", status, b, err)
		return err == nil && status == want
	}) {
		t.Fatalf("%s %s never answered %d; last: %s", method, url, want, last)
	}
}

type appTask struct {
	ID, Host, State, Version string
	Ready                    bool
}

// tasks reads the app's instances and its version; nil if the API does
// not answer.
func (s *service) tasks(app string) (string, []appTask) {
	status, b, err := s.c.HTTP(http.MethodGet, s.api+"/v2/apps/"+app, "")
	if err != nil || status != http.StatusOK {
		return "", nil
	}
	var v struct {
		App struct {
			Version     string
			Deployments []map[string]string
			Tasks       []appTask
		}
	}
	if json.Unmarshal(b, &v) != nil || len(v.App.Deployments) > 0 {
		return "", nil
	}
	return v.App.Version, v.App.Tasks
}

// deployed reports whether the app runs n instances, all of its current
// version, with no deployment in progress.
func (s *service) deployed(app string, n int) bool {
	version, tasks := s.tasks(app)
	if version == "" || len(tasks) != n {
		return false
	}
	for _, task := range tasks {
		if task.State != "TASK_RUNNING" || task.Version != version {
			return false
		}
	}
	return true
}

// final settles the app's instances and records their final states.
func (s *service) final(t *testing.T, app string) {
	t.Helper()
	s.c.SettleObserved(60*time.Second, func() []cluster.Observed {
		_, tasks := s.tasks(app)
		var out []cluster.Observed
		for _, task := range tasks {
			out = append(out, cluster.Observed{Identity: task.ID, TaskID: task.ID, State: task.State})
		}
		return out
	})
}

// appSpec is /web at a version. Its instances are not replaced while
// unreachable within the test (Marathon's default replaces them at once,
// and kills the old ones when they come back): any instance of the
// current version that ends is then one nothing asked to end.
func appSpec(version int) string {
	return fmt.Sprintf(`{"id":"/web","instances":3,"cmd":"exec sleep %d","cpus":0.1,"mem":32,
		"upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":0},
		"unreachableStrategy":{"inactiveAfterSeconds":600,"expungeAfterSeconds":1200}}`, 100000+version)
}

// petSpec is the set kv at a version. Not db: the pets package's tests
// find their db-N pets by environment among every process on the
// machine, and would take these for theirs.
func petSpec(version int) string {
	return fmt.Sprintf(`{"id":"kv","instances":3,"cmd":"exec sleep %d","cpus":0.1,"mem":32,
		"volumes":[{"containerPath":"data","size":10}]}`, 100000+version)
}

// Links flap between healthy and 10–30 % loss (every node but the
// observer, ZooKeeper included, drops that share of what it receives)
// while a pet set rolls to a new version. Old versions end as the update
// replaces them, and only those; no pet runs twice; the update finishes
// once the links are healthy.
func TestFlappingLinksDuringAPetSetRollingUpdate(t *testing.T) {
	flappingRollout(t, false)
}

// The same, with an app of the service framework rolling to a new version
// at the same time. Kept to make faults for its length (the pet set half
// runs in the suite).
func TestFlappingLinksDuringRollingUpgradesOfAnAppAndAPetSet(t *testing.T) {
	requireLong(t)
	flappingRollout(t, true)
}

func flappingRollout(t *testing.T, withApp bool) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 3, Identity: identity}))
	r := rng(t)
	var svc *service
	if withApp {
		svc = startService(c)
		svc.call(t, http.MethodPost, "/v2/apps", appSpec(1), http.StatusCreated)
	}
	p := startPets(c)
	p.call(t, http.MethodPost, "/v1/petsets", petSpec(1), http.StatusCreated)
	if withApp {
		c.WaitFor(90*time.Second, "web deployed", func() bool { return svc.deployed("web", 3) })
	}
	p.ready(t, "kv", 3, 0, 90*time.Second)

	if withApp {
		c.Expect("web.", "100001", "rolling upgrade of /web to v2")
		svc.call(t, http.MethodPut, "/v2/apps/web", appSpec(2), http.StatusOK)
	}
	c.Expect("kv-", "100001", "rolling update of kv to v2")
	p.call(t, http.MethodPut, "/v1/petsets/kv", petSpec(2), http.StatusOK)
	var flappy []*cluster.Node
	for _, group := range [][]*cluster.Node{c.ZooKeepers, c.Masters, c.Agents} {
		flappy = append(flappy, group...)
	}
	for range 6 {
		c.Lossy(flappy, 10+r.IntN(21))
		hold(r, 2*time.Second, 4*time.Second)
		c.HealNetwork()
		hold(r, time.Second, 2*time.Second)
	}
	if withApp {
		c.WaitFor(120*time.Second, "web at v2", func() bool { return svc.deployed("web", 3) })
	}
	v := p.ready(t, "kv", 3, 2, 120*time.Second)
	for name, pet := range v {
		if pet.Revision != 2 {
			t.Fatalf("%s at revision %d after the update", name, pet.Revision)
		}
	}
	if withApp {
		svc.final(t, "web")
	}
	p.final(t, "kv")
	finish(t, c)
}

// hold lets a fault (or its absence) last a random time between lo and
// hi: the length is the fault's shape, not a wait for anything.
func hold(r *rand.Rand, lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(r.Int64N(int64(hi-lo)))) // a fault's duration
}
