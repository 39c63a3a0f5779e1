package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent/attachclient"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/mesospb"
)

// attachProbes are the probes of the agent's attach and session calls:
// each is made on the probe task's container as principal, and the ACLs
// allowed it unless the agent answered 403.
func (p *aclProbe) attachProbes(t *testing.T) map[acl.Action]func(*testing.T, string) bool {
	client := func(principal string) *attachclient.Client {
		return &attachclient.Client{Base: "http://" + p.c.Agents[0].Addr(), HTTP: &http.Client{
			Transport: &auth.Transport{Base: http.DefaultTransport, Principal: principal, Secret: p.creds[principal]}}}
	}
	ctx := context.Background()
	task := attachclient.ContainerID(containerOf(t, p.c.Agents[0].WorkDir(), "*", "probe-task"), "")
	allowed := func(t *testing.T, what string, err error) bool {
		t.Helper()
		var se *attachclient.StatusError
		if errors.As(err, &se) && se.Status == http.StatusForbidden {
			return false
		}
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("%s: %v", what, err)
		}
		return true
	}
	// A session of ops', running, for the wait and kill probes.
	running := func(t *testing.T, id string) *mesospb.ContainerID {
		t.Helper()
		out, err := client("ops").LaunchSession(ctx, id, task.GetValue(), shell("echo started; sleep 300"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { out.Close() })
		if m, err := out.Next(); err != nil || string(m.GetData().GetData()) != "started\n" {
			t.Fatalf("the probe session did not start: %v %v", m, err)
		}
		return attachclient.ContainerID(id, task.GetValue())
	}
	return map[acl.Action]func(*testing.T, string) bool{
		acl.AttachContainersOutput: func(t *testing.T, who string) bool {
			out, err := client(who).AttachOutput(ctx, task)
			if err == nil {
				out.Close()
			}
			return allowed(t, "ATTACH_CONTAINER_OUTPUT", err)
		},
		acl.AttachContainersInput: func(t *testing.T, who string) bool {
			in, err := client(who).AttachInput(ctx, task)
			if err == nil {
				err = in.Close() // the probe task has no terminal: 400 once authorized
			}
			return allowed(t, "ATTACH_CONTAINER_INPUT", err)
		},
		acl.LaunchNestedContainerSessions: func(t *testing.T, who string) bool {
			out, err := client(who).LaunchSession(ctx, "probe-"+who, task.GetValue(), shell("true"), nil)
			if err == nil {
				out.Close()
			}
			return allowed(t, "LAUNCH_NESTED_CONTAINER_SESSION", err)
		},
		acl.WaitNestedContainers: func(t *testing.T, who string) bool {
			id := running(t, "wait-"+who)
			_ = client("ops").Kill(ctx, id, 0)
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, _, err := client(who).Wait(wctx, id)
			return allowed(t, "WAIT_NESTED_CONTAINER", err)
		},
		acl.KillNestedContainers: func(t *testing.T, who string) bool {
			return allowed(t, "KILL_NESTED_CONTAINER", client(who).Kill(ctx, running(t, "kill-"+who), 0))
		},
	}
}
