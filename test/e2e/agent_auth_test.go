package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A real task's sandbox on an agent with authentication and ACLs: read by
// the principals access_sandboxes allows for its user, refused (403) to
// others and (401) without credentials, while it runs and after the agent
// has forgotten the finished task; the task's executor needs no
// credentials to report.
func TestAgentSandboxesAreAuthorizedForTheTasksUser(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	acls, err := acl.Parse(fmt.Appendf(nil, `{"permissive": false,
		"access_sandboxes": [
			{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
			{"principals": {"values": ["rooter"]}, "users": {"values": ["root", %q]}}],
		"view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}`, me.Username))
	if err != nil {
		t.Fatal(err)
	}
	creds := auth.Credentials{"ops": "o", "rooter": "r", "alice": "a"}
	c := testcluster.Start(t, testcluster.Options{Agent: func(_ int, cfg *agent.Config) {
		cfg.Credentials, cfg.AuthenticateHTTP, cfg.ACLs = creds, true, acls
	}})
	f := startHealthFramework(t, c.MasterAddr) // user root
	f.launch("sb", "echo hello from an authorized sandbox; sleep 0.3", nil)
	f.expect(t, "sb", "TASK_RUNNING", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING })
	a := c.Agents[0]
	stdout := fmt.Sprintf("/frameworks/%s/executors/sb/runs/latest/stdout", f.s.FrameworkID())
	read := func(principal string) (int, string) {
		t.Helper()
		return send(t, "GET", "http://"+a.Addr()+"/files/read?offset=0&path="+url.QueryEscape(stdout), principal, creds[principal], "", nil)
	}
	check := func(when string) {
		t.Helper()
		if status, body := read(""); status != http.StatusUnauthorized {
			t.Errorf("%s, no credentials: %d %q", when, status, body)
		}
		if status, body := read("alice"); status != http.StatusForbidden || !strings.Contains(body, "not authorized") {
			t.Errorf("%s, alice: %d %q", when, status, body)
		}
		for _, p := range []string{"ops", "rooter"} {
			deadline := time.Now().Add(10 * time.Second)
			for {
				status, body := read(p)
				if status == http.StatusOK && strings.Contains(body, "hello from an authorized sandbox") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s, %s: %d %q", when, p, status, body)
				}
				time.Sleep(20 * time.Millisecond) // polling for the task's output
			}
		}
	}
	check("while the agent tracks the task")
	f.expect(t, "sb", "TASK_FINISHED", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_FINISHED })
	// Once the acknowledgement reaches the agent it forgets the task; the
	// sandbox is then attributed to its run directory's owner.
	getTasks, _ := codec.JSON.Marshal(&agentapipb.Call{Type: agentapipb.Call_GET_TASKS.Enum()})
	for deadline := time.Now().Add(10 * time.Second); ; {
		status, body := send(t, "POST", "http://"+a.Addr()+"/api/v1", "ops", "o", codec.JSONMediaType, getTasks)
		var resp struct {
			GetTasks json.RawMessage `json:"get_tasks"`
		}
		_ = json.Unmarshal([]byte(body), &resp)
		if status == http.StatusOK && len(resp.GetTasks) > 0 && !bytes.Contains(resp.GetTasks, []byte(`"sb"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent still holds the finished task: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond) // polling for the acknowledgement
	}
	check("finished and forgotten")
}
