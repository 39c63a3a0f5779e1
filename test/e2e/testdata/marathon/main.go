// Command marathon drives corral's service framework with go-marathon, a
// Marathon client corral's authors did not write, unchanged: every step
// is a call a Marathon user makes. It prints "ok <step>" per step and a
// last line "events {json}" counting what its SSE listener decoded; it
// exits non-zero at the first step that fails.
//
// It is built by test/e2e/marathon_test.go in a module of its own that
// requires github.com/gambol99/go-marathon (see that test), not by the
// corral module.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	marathon "github.com/gambol99/go-marathon"
)

var timeout = 90 * time.Second

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

func ok(step string) { fmt.Printf("ok %s\n", step) }

func check(step string, err error) {
	if err != nil {
		fail(step, err)
	}
	ok(step)
}

func app(id string, n int) *marathon.Application {
	return new(marathon.Application).Name(id).Command("sleep 600").CPU(0.05).Memory(16).Count(n)
}

// counts is what the SSE listener decoded.
type counts struct {
	mu            sync.Mutex
	ByType        map[string]int `json:"byType"`
	PlansWithStep int            `json:"plansWithStep"`
	NilPlans      int            `json:"nilPlans"`
}

func (c *counts) listen(ch marathon.EventsChannel) {
	for ev := range ch {
		c.mu.Lock()
		c.ByType[ev.Name]++
		switch e := ev.Event.(type) {
		case *marathon.EventDeploymentInfo:
			if e.Plan == nil || e.CurrentStep == nil || e.Plan.ID == "" {
				c.NilPlans++
			} else {
				c.PlansWithStep++
			}
		case *marathon.EventDeploymentStepSuccess:
			if e.Plan == nil || e.CurrentStep == nil {
				c.NilPlans++
			}
		}
		c.mu.Unlock()
	}
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the service framework")
	callback := flag.String("callback", "", "an HTTP callback to subscribe")
	flag.Parse()

	cfg := marathon.NewDefaultConfig()
	cfg.URL = *url
	cfg.EventsTransport = marathon.EventsTransportSSE
	client, err := marathon.NewClient(cfg)
	check("NewClient", err)
	_, err = client.Ping()
	check("Ping", err)

	info, err := client.Info()
	if err == nil && (info.FrameworkID == "" || info.Leader == "" || info.MarathonConfig.FrameworkName == "") {
		err = fmt.Errorf("info lacks frameworkId, leader or framework_name: %+v", info)
	}
	check("Info", err)
	leader, err := client.Leader()
	if err == nil && !strings.Contains(*url, leader) {
		err = fmt.Errorf("leader %q is not %s", leader, *url)
	}
	check("Leader", err)
	if _, err := client.AbdicateLeader(); err == nil {
		fail("AbdicateLeader", errors.New("a framework without leader election abdicated"))
	}
	ok("AbdicateLeader refused without an election")

	events := &counts{ByType: map[string]int{}}
	ch, err := client.AddEventsListener(marathon.EventIDApplications | marathon.EventIDDeploymentInfo |
		marathon.EventIDDeploymentStepSuccess | marathon.EventIDDeploymentSuccess | marathon.EventIDAPIRequest)
	check("AddEventsListener (SSE)", err)
	go events.listen(ch)

	if *callback != "" {
		check("Subscribe", client.Subscribe(*callback))
		subs, err := client.Subscriptions()
		if err == nil && (len(subs.CallbackURLs) != 1 || subs.CallbackURLs[0] != *callback) {
			err = fmt.Errorf("subscriptions %v, want %s", subs.CallbackURLs, *callback)
		}
		check("Subscriptions", err)
	}

	// One app through its life.
	created, err := client.CreateApplication(app("/gm/web", 1))
	if err == nil && created.ID != "/gm/web" {
		err = fmt.Errorf("created %q", created.ID)
	}
	check("CreateApplication", err)
	check("WaitOnApplication", client.WaitOnApplication("/gm/web", timeout))
	apps, err := client.Applications(nil)
	if err == nil && len(apps.Apps) == 0 {
		err = errors.New("no apps listed")
	}
	check("Applications", err)
	got, err := client.Application("/gm/web")
	if err == nil && (got.Instances == nil || *got.Instances != 1 || got.TasksRunning != 1) {
		err = fmt.Errorf("app %+v", got)
	}
	check("Application", err)
	dep, err := client.ScaleApplicationInstances("/gm/web", 3, false)
	check("ScaleApplicationInstances", err)
	check("WaitOnDeployment (scale)", client.WaitOnDeployment(dep.DeploymentID, timeout))
	tasks, err := client.Tasks("/gm/web")
	if err == nil && len(tasks.Tasks) != 3 {
		err = fmt.Errorf("%d tasks after scaling to 3", len(tasks.Tasks))
	}
	check("Tasks", err)
	update := app("/gm/web", 3).AddEnv("COLOR", "blue")
	dep, err = client.UpdateApplication(update, false)
	check("UpdateApplication", err)
	check("WaitOnDeployment (update)", client.WaitOnDeployment(dep.DeploymentID, timeout))
	dep, err = client.RestartApplication("/gm/web", false)
	check("RestartApplication", err)
	check("WaitOnDeployment (restart)", client.WaitOnDeployment(dep.DeploymentID, timeout))
	deps, err := client.Deployments()
	check("Deployments", err)
	_ = deps
	all, err := client.AllTasks(&marathon.AllTasksOpts{Status: "running"})
	if err == nil && len(all.Tasks) < 3 {
		err = fmt.Errorf("%d tasks running", len(all.Tasks))
	}
	check("AllTasks", err)
	tasks, err = client.Tasks("/gm/web")
	check("Tasks (before KillTasks)", err)
	check("KillTasks (scale)", client.KillTasks([]string{tasks.Tasks[0].ID, tasks.Tasks[1].ID}, &marathon.KillTaskOpts{Scale: true}))
	waitFor("the app scaled down to 1 by KillTasks", func() bool {
		a, err := client.Application("/gm/web")
		return err == nil && a.Instances != nil && *a.Instances == 1 && len(a.Deployments) == 0
	})
	tasks, err = client.Tasks("/gm/web")
	check("Tasks (before KillTask)", err)
	_, err = client.KillTask(tasks.Tasks[0].ID, &marathon.KillTaskOpts{})
	check("KillTask (replaced)", err)
	waitFor("a replacement after KillTask", func() bool {
		t, err := client.Tasks("/gm/web")
		return err == nil && len(t.Tasks) == 1 && t.Tasks[0].ID != tasks.Tasks[0].ID && t.Tasks[0].State == "TASK_RUNNING"
	})
	ok("KillTask replacement running")

	// A group whose web tier depends on its database.
	g := marathon.NewApplicationGroup("/shop")
	g.App(app("/shop/db", 1))
	g.App(app("/shop/web", 2).DependsOn("/shop/db"))
	check("CreateGroup", client.CreateGroup(g))
	check("WaitOnGroup", client.WaitOnGroup("/shop", timeout))
	groups, err := client.Groups()
	if err == nil && !hasGroup(groups.Groups, "/shop") {
		err = fmt.Errorf("groups %+v lack /shop", groups.Groups)
	}
	check("Groups", err)
	shop, err := client.Group("/shop")
	if err == nil && len(shop.Apps) != 2 {
		err = fmt.Errorf("/shop has %d apps", len(shop.Apps))
	}
	check("Group", err)
	g2 := marathon.NewApplicationGroup("/shop")
	g2.App(app("/shop/db", 1))
	g2.App(app("/shop/web", 3).DependsOn("/shop/db"))
	dep, err = client.UpdateGroup("/shop", g2, false)
	check("UpdateGroup", err)
	check("WaitOnDeployment (group update)", client.WaitOnDeployment(dep.DeploymentID, timeout))
	web, err := client.Application("/shop/web")
	if err == nil && web.TasksRunning != 3 {
		err = fmt.Errorf("/shop/web runs %d, want 3", web.TasksRunning)
	}
	check("Application (in the group)", err)
	dep, err = client.DeleteGroup("/shop", false)
	check("DeleteGroup", err)
	check("WaitOnDeployment (group delete)", client.WaitOnDeployment(dep.DeploymentID, timeout))

	dep, err = client.DeleteApplication("/gm/web", false)
	check("DeleteApplication", err)
	check("WaitOnDeployment (delete)", client.WaitOnDeployment(dep.DeploymentID, timeout))
	if *callback != "" {
		check("Unsubscribe", client.Unsubscribe(*callback))
	}
	waitFor("the deployment events", func() bool {
		events.mu.Lock()
		defer events.mu.Unlock()
		return events.ByType["deployment_success"] > 0 && events.PlansWithStep > 0 && events.ByType["status_update_event"] > 0
	})
	events.mu.Lock()
	b, _ := json.Marshal(events)
	events.mu.Unlock()
	fmt.Printf("events %s\n", b)
}

func hasGroup(gs []*marathon.Group, id string) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

// waitFor polls cond with a deadline.
func waitFor(what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			fail(what, errors.New("timed out"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
