package webui_test

import (
	"fmt"
	"testing"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/master"
)

// The UI reads the operator API as the signed-in principal, so it shows
// only what that principal may view: "dev" sees the frameworks and tasks
// of user nobody, not those of root.
func TestUIShowsOnlyWhatThePrincipalMayView(t *testing.T) {
	acls, err := acl.Parse([]byte(`{
	  "view_frameworks": [{"principals": {"values": ["dev"]}, "users": {"values": ["nobody"]}},
	                      {"principals": {"values": ["dev"]}, "users": {"type": "NONE"}}],
	  "view_tasks": [{"principals": {"values": ["dev"]}, "users": {"values": ["nobody"]}},
	                 {"principals": {"values": ["dev"]}, "users": {"type": "NONE"}}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	u := startUIWith(t, "#/frameworks", uiOptions{principal: "dev", secret: "pw", master: func(cfg *master.Config) {
		cfg.Credentials, cfg.AuthenticateHTTP, cfg.ACLs = auth.Credentials{"dev": "pw"}, true, acls
	}})
	blog := startAs(t, u.cluster, "blog", "web", "nobody", false)
	admin := startAs(t, u.cluster, "admin", "ops", "root", false)
	blogID, adminID := blog.id(), admin.id()
	blog.launch("blog-task", "sleep 60")
	admin.launch("admin-task", "sleep 60")
	u.waitFor("nobody's framework", fmt.Sprintf(`document.querySelector('#frameworks-table tr[data-framework=%q]') !== null`, blogID))
	u.visit("#/tasks")
	// The task's state does not matter here (the sandbox may not be
	// reachable for nobody); that it is listed does.
	u.waitFor("nobody's task", row("tasks-table", "task", "blog-task", ""))
	// Both tasks were launched (each framework saw its launch go out), so
	// the stream has carried the admin task by now, and withheld it.
	u.visit("#/frameworks")
	u.waitFor("the frameworks table", `document.getElementById('frameworks-table') !== null`)
	if eval[bool](u, fmt.Sprintf(`document.querySelector('#frameworks-table tr[data-framework=%q]') !== null`, adminID)) {
		t.Error("dev sees root's framework")
	}
	u.visit("#/tasks")
	u.waitFor("the tasks table", row("tasks-table", "task", "blog-task", ""))
	if eval[bool](u, row("tasks-table", "task", "admin-task", "")) {
		t.Error("dev sees root's task")
	}
}
