package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/recordio"
	"github.com/corral-sched/corral/resources"
)

// aclProbe is one live cluster in which, for every action X corral
// enforces, principal "no-X" is denied X and allowed everything else, and
// "ops" is allowed everything: a probe of X that sees "no-X" refused and
// "ops" served shows that X, and nothing else, decided.
type aclProbe struct {
	c        *testcluster.Cluster
	creds    auth.Credentials
	fw       *authFramework // principal fw: runs probe-task
	teardown string         // a disconnected framework of fw's, for teardown_frameworks
}

func deniedPrincipal(a acl.Action) string { return "no-" + string(a) }

func startACLProbe(t *testing.T) *aclProbe {
	t.Helper()
	p := &aclProbe{creds: auth.Credentials{"ops": "ops-secret", "fw": "fw-secret", "agent": "agent-secret"}}
	var rules []string
	for _, a := range acl.Actions() {
		p.creds[deniedPrincipal(a)] = "secret-" + string(a)
		rules = append(rules, fmt.Sprintf(`%q: [{"principals": {"values": [%q]}, %q: {"type": "NONE"}}, {"principals": {"type": "ANY"}, %q: {"type": "ANY"}}]`,
			a, deniedPrincipal(a), a.Objects(), a.Objects()))
	}
	acls, err := acl.Parse([]byte(`{"permissive": false, ` + strings.Join(rules, ", ") + `}`))
	if err != nil {
		t.Fatal(err)
	}
	p.c = testcluster.Start(t, testcluster.Options{Agents: 1,
		Master: func(mc *master.Config) {
			mc.Credentials, mc.ACLs = p.creds, acls
			mc.AuthenticateFrameworks, mc.AuthenticateAgents, mc.AuthenticateHTTP = true, true, true
		},
		Agent: func(_ int, ac *agent.Config) {
			ac.Principal, ac.Secret = "agent", p.creds["agent"]
			ac.Credentials, ac.AuthenticateHTTP, ac.ACLs = p.creds, true, acls
		},
	})
	p.fw = startAuthFramework(t, p.c.MasterAddr, "fw", p.creds["fw"])
	o := nextOffer(t, p.fw.offers)
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	// A long filter: the rest of the agent goes to the probes' frameworks.
	if err := p.fw.s.Launch(context.Background(), o, 3600, sdk.CommandTask("probe-task", "probe-task", o, "echo probe output; sleep 300", res)); err != nil {
		t.Fatal(err)
	}
	waitState(t, p.fw.updates, "probe-task", mesospb.TaskState_TASK_RUNNING)
	p.teardown = p.subscribeAndLeave(t)
	for _, call := range []*masterpb.Call{
		{Type: masterpb.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &masterpb.Call_UpdateQuota{QuotaConfigs: []*masterpb.QuotaConfig{{Role: proto.String("q"),
			Guarantees: map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(0.1)}}}}}},
		{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("w"), Weight: proto.Float64(2)}}}},
		scheduleCall(time.Now().Add(time.Hour), []string{"maint-host"}),
	} {
		if code, body, _ := p.operator(t, "ops", call); code != http.StatusOK {
			t.Fatalf("setting up %v: %d %q", call.GetType(), code, body)
		}
	}
	return p
}

// subscribeAndLeave subscribes a framework of fw's that stays known after
// its stream ends (failover timeout), so it holds no offers.
func (p *aclProbe) subscribeAndLeave(t *testing.T) string {
	t.Helper()
	body, _ := codec.Protobuf.Marshal(&schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
		FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("leaver"), Principal: proto.String("fw"), FailoverTimeout: proto.Float64(3600)}}})
	req, _ := http.NewRequest(http.MethodPost, p.c.MasterURL+"/api/v1/scheduler", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	req.SetBasicAuth("fw", p.creds["fw"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rec, err := recordio.NewReader(resp.Body, 1<<20).ReadRecord()
	ev := &schedulerpb.Event{}
	if err != nil || proto.Unmarshal(rec, ev) != nil || ev.GetType() != schedulerpb.Event_SUBSCRIBED {
		t.Fatalf("subscribing a framework to leave: %s, %v, %v", resp.Status, err, ev)
	}
	return ev.GetSubscribed().GetFrameworkId().GetValue()
}

func (p *aclProbe) operator(t *testing.T, principal string, call *masterpb.Call) (int, string, *masterpb.Response) {
	t.Helper()
	code, body := send(t, "POST", p.c.MasterURL+"/api/v1", principal, p.creds[principal], codec.JSONMediaType, operatorJSON(t, call))
	if code != http.StatusOK || body == "" {
		return code, body, nil
	}
	resp := &masterpb.Response{}
	if err := codec.JSON.Unmarshal([]byte(body), resp); err != nil {
		t.Fatalf("%v: decoding %q: %v", call.GetType(), body, err)
	}
	return code, body, resp
}

// permits: the call was answered with something other than a 403 (a 403
// must say why); for calls that change something, any other answer
// means the authorization passed.
func (p *aclProbe) permits(t *testing.T, principal string, call *masterpb.Call) bool {
	t.Helper()
	code, body, _ := p.operator(t, principal, call)
	if code == http.StatusForbidden && !strings.Contains(body, "not authorized") {
		t.Errorf("%v as %s: 403 without saying why: %q", call.GetType(), principal, body)
	}
	return code != http.StatusForbidden
}

// shows: the read is answered and the answer holds what has retained
// (filtered views answer 200 with less in them).
func (p *aclProbe) shows(t *testing.T, principal string, typ masterpb.Call_Type, has func(*masterpb.Response) bool) bool {
	t.Helper()
	code, body, resp := p.operator(t, principal, &masterpb.Call{Type: typ.Enum()})
	if code != http.StatusOK {
		t.Fatalf("%v as %s: %d %q", typ, principal, code, body)
	}
	return has(resp)
}

func (p *aclProbe) agentContainers(t *testing.T, principal string) bool {
	t.Helper()
	body, _ := codec.JSON.Marshal(&agentapipb.Call{Type: agentapipb.Call_GET_CONTAINERS.Enum()})
	code, text := send(t, "POST", "http://"+p.c.Agents[0].Addr()+"/api/v1", principal, p.creds[principal], codec.JSONMediaType, body)
	resp := &agentapipb.Response{}
	if code != http.StatusOK || codec.JSON.Unmarshal([]byte(text), resp) != nil {
		t.Fatalf("GET_CONTAINERS as %s: %d %q", principal, code, text)
	}
	return len(resp.GetGetContainers().GetContainers()) > 0
}

func (p *aclProbe) get(t *testing.T, principal, url string) int {
	t.Helper()
	code, _ := send(t, "GET", url, principal, p.creds[principal], "", nil)
	return code
}

// runsTasks: a framework of principal's launches a task; the ACLs allow it
// unless the task fails as unauthorized.
func (p *aclProbe) runsTasks(t *testing.T, principal string) bool {
	t.Helper()
	f := startAuthFramework(t, p.c.MasterAddr, principal, p.creds[principal])
	o := nextOffer(t, f.offers)
	res, _ := sdk.NewSpace(o).Take(0.1, 16, 0, 0)
	id := "run-" + principal
	if err := f.s.Launch(context.Background(), o, 3600, sdk.CommandTask(id, id, o, "true", res)); err != nil {
		t.Fatal(err)
	}
	st := nextUpdate(t, f.updates, id)
	return st.GetReason() != mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED
}

func (p *aclProbe) registersAgent(t *testing.T, principal string) bool {
	t.Helper()
	rs, _ := resources.Parse("cpus:1;mem:64", "*")
	body, _ := proto.Marshal(&agentpb.Call{Type: agentpb.Call_SUBSCRIBE.Enum(), Subscribe: &agentpb.Call_Subscribe{
		AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("probe-" + principal), Port: proto.Int32(1), Resources: rs}}})
	req, _ := http.NewRequest(http.MethodPost, p.c.MasterURL+"/api/v1/agent", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.SetBasicAuth(principal, p.creds[principal])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "register_agents") {
			t.Errorf("agent registration as %s: 403 %q does not name register_agents", principal, b)
		}
	}
	return resp.StatusCode == http.StatusOK
}

// probes says, for each action corral enforces, whether principal may do
// it, through the real call, endpoint or view the action guards.
func (p *aclProbe) probes() map[acl.Action]func(*testing.T, string) bool {
	agentID := &mesospb.AgentID{Value: proto.String("no-such-agent")}
	reserved := func() []*mesospb.Resource {
		r, _ := resources.Parse("disk:8", "*")
		r[0].Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("r"), Principal: proto.String("ops")}}
		return r
	}
	volume := func() []*mesospb.Resource {
		r := reserved()
		r[0].Disk = &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("v"), Principal: proto.String("ops")},
			Volume: &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()}}
		return r
	}
	unscheduled := machines("unscheduled-host")
	master, agentURL := p.c.MasterURL, "http://"+p.c.Agents[0].Addr()
	stdout := fmt.Sprintf("/frameworks/%s/executors/probe-task/runs/latest/stdout", p.fw.s.FrameworkID())
	return map[acl.Action]func(*testing.T, string) bool{
		acl.RegisterFrameworks: func(t *testing.T, who string) bool {
			code, _ := subscribeAs(t, master, who, p.creds[who], &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(who), Principal: proto.String(who)})
			return code == http.StatusOK
		},
		acl.RunTasks:       p.runsTasks,
		acl.RegisterAgents: p.registersAgent,
		acl.TeardownFrameworks: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{FrameworkId: &mesospb.FrameworkID{Value: proto.String(p.teardown)}}})
		},
		acl.ReserveResources: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{AgentId: agentID, Resources: reserved()}})
		},
		acl.UnreserveResources: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &masterpb.Call_UnreserveResources{AgentId: agentID, Resources: reserved()}})
		},
		acl.CreateVolumes: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &masterpb.Call_CreateVolumes{AgentId: agentID, Volumes: volume()}})
		},
		acl.DestroyVolumes: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_DESTROY_VOLUMES.Enum(), DestroyVolumes: &masterpb.Call_DestroyVolumes{AgentId: agentID, Volumes: volume()}})
		},
		acl.UpdateQuotas: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: proto.String("never-set")}})
		},
		acl.UpdateWeights: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{WeightInfos: []*mesospb.WeightInfo{{Role: proto.String("w"), Weight: proto.Float64(2)}}}})
		},
		acl.MarkAgentsGone: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(), MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: agentID}})
		},
		acl.ViewFlags: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_GET_FLAGS.Enum()})
		},
		acl.SetLogLevel: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_SET_LOGGING_LEVEL.Enum(), SetLoggingLevel: &masterpb.Call_SetLoggingLevel{
				Level: proto.Uint32(0), Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(time.Second))}}})
		},
		acl.UpdateMaintenanceSchedules: func(t *testing.T, who string) bool {
			return p.permits(t, who, scheduleCall(time.Now().Add(time.Hour), []string{"maint-host"}))
		},
		acl.StartMaintenances: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_START_MAINTENANCE.Enum(), StartMaintenance: &masterpb.Call_StartMaintenance{Machines: unscheduled}})
		},
		acl.StopMaintenances: func(t *testing.T, who string) bool {
			return p.permits(t, who, &masterpb.Call{Type: masterpb.Call_STOP_MAINTENANCE.Enum(), StopMaintenance: &masterpb.Call_StopMaintenance{Machines: unscheduled}})
		},
		acl.GetQuotas: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_QUOTA, func(r *masterpb.Response) bool { return len(r.GetGetQuota().GetStatus().GetConfigs()) > 0 })
		},
		acl.ViewRoles: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_WEIGHTS, func(r *masterpb.Response) bool { return len(r.GetGetWeights().GetWeightInfos()) > 0 }) &&
				p.shows(t, who, masterpb.Call_GET_ROLES, func(r *masterpb.Response) bool { return len(r.GetGetRoles().GetRoles()) > 0 })
		},
		acl.ViewFrameworks: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_FRAMEWORKS, func(r *masterpb.Response) bool { return len(r.GetGetFrameworks().GetFrameworks()) > 0 })
		},
		acl.ViewTasks: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_TASKS, func(r *masterpb.Response) bool { return len(r.GetGetTasks().GetTasks()) > 0 })
		},
		acl.GetMaintenanceSchedules: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_MAINTENANCE_SCHEDULE, func(r *masterpb.Response) bool {
				w := r.GetGetMaintenanceSchedule().GetSchedule().GetWindows()
				return len(w) > 0 && len(w[0].GetMachineIds()) > 0
			})
		},
		acl.GetMaintenanceStatuses: func(t *testing.T, who string) bool {
			return p.shows(t, who, masterpb.Call_GET_MAINTENANCE_STATUS, func(r *masterpb.Response) bool {
				return len(r.GetGetMaintenanceStatus().GetStatus().GetDrainingMachines()) > 0
			})
		},
		acl.ViewExecutors:  p.agentContainers,
		acl.ViewContainers: p.agentContainers,
		acl.AccessSandboxes: func(t *testing.T, who string) bool {
			return p.get(t, who, agentURL+"/files/read?offset=0&path="+url.QueryEscape(stdout)) == http.StatusOK
		},
		acl.GetEndpoints: func(t *testing.T, who string) bool {
			codes := []int{p.get(t, who, master+"/metrics"), p.get(t, who, agentURL+"/metrics")}
			code, _, _ := p.operator(t, who, &masterpb.Call{Type: masterpb.Call_GET_METRICS.Enum()})
			codes = append(codes, code)
			for _, c := range codes[1:] {
				if c != codes[0] {
					t.Errorf("as %s: master /metrics, agent /metrics and GET_METRICS answered %v: one decision for the same numbers", who, codes)
				}
			}
			return codes[0] == http.StatusOK
		},
	}
}

// Every action in auth/acl is enforced at the call, endpoint or view it
// guards (a principal denied it, and only it, is refused or shown less
// while ops is served), or guards a feature corral does not have and is
// listed as such in the docs, or is refused in an ACL file.
func TestEveryACLActionIsEnforcedOrDocumentedAsNotApplicable(t *testing.T) {
	p := startACLProbe(t)
	probes := p.probes()
	maps.Copy(probes, p.attachProbes(t))
	for _, a := range acl.Actions() {
		t.Run(string(a), func(t *testing.T) {
			probe := probes[a]
			if probe == nil {
				t.Fatalf("nothing shows that %s is enforced: enforce it where corral has its feature and add a probe here, or list it in acl.NotApplicable", a)
			}
			if probe(t, deniedPrincipal(a)) {
				t.Errorf("%s is not enforced: principal %s, denied it, was allowed", a, deniedPrincipal(a))
			}
			if !probe(t, "ops") {
				t.Errorf("ops, allowed %s, was refused: the probe does not show %s decided", a, a)
			}
		})
	}
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range acl.NotApplicable() {
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("%s is accepted as not applicable but docs/security.md does not list it", name)
		}
	}
	for _, name := range acl.Refused() {
		if _, err := acl.Parse([]byte(`{"` + name + `": []}`)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("an ACL file setting %s: %v, want an error naming it", name, err)
		}
	}
}
