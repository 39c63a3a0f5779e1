package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// authzAgent is an agent serving HTTP with authentication and ACLs on,
// with tasks in its table as if launched (nothing runs): alice's task
// "ta" and a custom executor "exb" running as bob, both in alice's
// framework F, and bob's task "tb" in framework G.
type authzAgent struct {
	a                   *Agent
	url                 string
	sandboxA, sandboxEB string
	sandboxB, orphan    string
	volumeA             string // the volume of alice's task
}

var authzCreds = auth.Credentials{"ops": "ops-secret", "alice": "alice-secret", "eve": "eve-secret", "owner": "owner-secret"}

func startAuthzAgent(t *testing.T) *authzAgent {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	rules := func(action string) string {
		return fmt.Sprintf(`"%s": [
			{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
			{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}},
			{"principals": {"values": ["owner"]}, "users": {"values": [%q]}}]`, action, me.Username)
	}
	acls, err := acl.Parse([]byte(`{"permissive": false, ` + rules("access_sandboxes") + `, ` + rules("view_tasks") + `, ` +
		rules("view_frameworks") + `, ` + rules("view_executors") + `, ` + rules("view_containers") + `,
		"get_endpoints": [{"principals": {"values": ["ops", "alice"]}, "paths": {"values": ["/metrics"]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: dir,
		Resources: "cpus:1;mem:64", Logger: slog.New(slog.DiscardHandler),
		Credentials: authzCreds, AuthenticateHTTP: true, ACLs: acls})
	if err != nil {
		t.Fatal(err)
	}
	id := "S1"
	a.id.Store(&id)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.loop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	sandbox := func(fw, ex, run string) string {
		p := filepath.Join(dir, "agents", "S1", "frameworks", fw, "executors", ex, "runs", run)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "stdout"), []byte("output of "+ex+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &authzAgent{a: a, sandboxA: sandbox("F", "ta", "c1"), sandboxEB: sandbox("F", "exb", "c2"),
		sandboxB: sandbox("G", "tb", "c3"), orphan: sandbox("F", "gone", "c4")}
	// A link planted in alice's sandbox into bob's.
	if err := os.Symlink(filepath.Join(s.sandboxB, "stdout"), filepath.Join(s.sandboxA, "bobs")); err != nil {
		t.Fatal(err)
	}
	// Alice's task has a volume linked into its sandbox; another role's
	// volume is linked there too, as a task could plant it.
	volume := func(role, id string) *mesospb.Resource {
		v := &mesospb.Resource{Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1)},
			Reservations: []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}},
			Disk:         &mesospb.Resource_DiskInfo{Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String(id)}}}
		if err := os.MkdirAll(a.volumePath(v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.volumePath(v), "data"), []byte("volume "+id+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hers, others := volume("web", "v1"), volume("db", "v2")
	s.volumeA = a.volumePath(hers)
	for link, v := range map[string]*mesospb.Resource{"vol": hers, "othervol": others} {
		if err := os.Symlink(a.volumePath(v), filepath.Join(s.sandboxA, link)); err != nil {
			t.Fatal(err)
		}
	}
	alice := &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("F")}, User: proto.String("alice"), Name: proto.String("fa")}
	bob := &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("G")}, User: proto.String("bob"), Name: proto.String("fb")}
	task := func(fw *mesospb.FrameworkInfo, id, sandbox string) *taskRun {
		ti := &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			Command: &mesospb.CommandInfo{Value: proto.String("true")}}
		return &taskRun{key: keyOf(fw.GetId(), ti.GetTaskId()), framework: fw, info: ti, sandbox: sandbox, state: mesospb.TaskState_TASK_RUNNING}
	}
	ta := task(alice, "ta", s.sandboxA)
	ta.info.Resources = []*mesospb.Resource{hers}
	err = a.do(ctx, func() {
		for _, tr := range []*taskRun{ta, task(bob, "tb", s.sandboxB)} {
			a.tasks[tr.key] = tr
		}
		k := execKey{"F", "exb"}
		a.executors[k] = &executorRun{key: k, framework: alice, sandbox: s.sandboxEB, tasks: map[string]*taskRun{},
			info: &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("exb")},
				Command: &mesospb.CommandInfo{Value: proto.String("exec"), User: proto.String("bob")}}}
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// request sends a request as principal ("" for none; a secret of "wrong"
// for a wrong one) and returns the status, body and response.
func (s *authzAgent) request(t *testing.T, method, target, principal string, body []byte) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", codec.JSONMediaType)
	}
	if principal != "" {
		secret := authzCreds[principal]
		if principal == "wrong" {
			principal, secret = "alice", "not-her-secret"
		}
		req.SetBasicAuth(principal, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

func (s *authzAgent) call(t *testing.T, principal string, call *agentapipb.Call) (int, string) {
	t.Helper()
	b, err := codec.JSON.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := s.request(t, http.MethodPost, "/api/v1", principal, b)
	return status, body
}

func files(endpoint, path string) string {
	q := "?path=" + url.QueryEscape(path)
	if endpoint == "read" {
		q += "&offset=0"
	}
	return "/files/" + endpoint + q
}

// Every operator endpoint: no or wrong credentials are 401; valid ones
// the ACLs deny are 403 where access_sandboxes guards the endpoint, and a
// view with nothing in it where view_* filters it (as Mesos does); allowed
// ones are 200.
func TestAgentEndpointsAuthenticateAndAuthorize(t *testing.T) {
	s := startAuthzAgent(t)
	getState := &agentapipb.Call{Type: agentapipb.Call_GET_STATE.Enum()}
	for _, c := range []struct {
		name        string
		method, url string
		body        *agentapipb.Call
		denied      int // status for eve, whom the ACLs allow nothing
	}{
		{"/state", "GET", "/state", nil, 200},
		{"/metrics", "GET", "/metrics", nil, 403}, // get_endpoints, as Mesos guards /metrics/snapshot
		{"GET_STATE", "POST", "/api/v1", getState, 200},
		{"/files/browse", "GET", files("browse", s.sandboxA), nil, 403},
		{"/files/read", "GET", files("read", s.sandboxA+"/stdout"), nil, 403},
		{"/files/download", "GET", files("download", s.sandboxA+"/stdout"), nil, 403},
		{"LIST_FILES", "POST", "/api/v1", &agentapipb.Call{Type: agentapipb.Call_LIST_FILES.Enum(),
			ListFiles: &agentapipb.Call_ListFiles{Path: proto.String(s.sandboxA)}}, 403},
		{"READ_FILE", "POST", "/api/v1", &agentapipb.Call{Type: agentapipb.Call_READ_FILE.Enum(),
			ReadFile: &agentapipb.Call_ReadFile{Path: proto.String(s.sandboxA + "/stdout"), Offset: proto.Uint64(0)}}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != nil {
				body, _ = codec.JSON.Marshal(c.body)
			}
			for _, p := range []struct {
				principal string
				want      int
			}{{"", 401}, {"wrong", 401}, {"eve", c.denied}, {"alice", 200}, {"ops", 200}} {
				status, text, resp := s.request(t, c.method, c.url, p.principal, body)
				if status != p.want {
					t.Errorf("as %q: %d %q, want %d", p.principal, status, text, p.want)
				}
				if status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("as %q: 401 without a challenge", p.principal)
				}
				if status == 403 && !strings.Contains(text, "not authorized") {
					t.Errorf("as %q: 403 without saying why: %q", p.principal, text)
				}
				if strings.HasPrefix(c.url, "/files/") && resp.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("as %q: %d without Access-Control-Allow-Origin, so the web UI cannot show why", p.principal, status)
				}
			}
		})
	}
}

// /health and the executor API need no credentials: load balancers and
// the executors the agent launches hold none.
func TestAgentHealthAndExecutorAPIStayOpen(t *testing.T) {
	s := startAuthzAgent(t)
	if status, body, _ := s.request(t, "GET", "/health", "", nil); status != 200 {
		t.Fatalf("/health: %d %q", status, body)
	}
	// An empty call is refused by the executor API itself, not by auth.
	if status, body, _ := s.request(t, "POST", "/api/v1/executor", "", []byte("{}")); status == 401 || status == 403 {
		t.Fatalf("executor API without credentials: %d %q", status, body)
	}
}

// access_sandboxes' object is the user the executor runs as: its command's
// user, else its framework's; a link into another user's sandbox, or a
// path that climbs into it, is checked against that sandbox's user.
func TestAgentSandboxAccessFollowsTheExecutorsUser(t *testing.T) {
	s := startAuthzAgent(t)
	for _, c := range []struct {
		name, principal, url string
		want                 int
	}{
		{"her own task", "alice", files("read", s.sandboxA+"/stdout"), 200},
		{"bob's task", "alice", files("read", s.sandboxB+"/stdout"), 403},
		{"an executor run as bob in her framework", "alice", files("browse", s.sandboxEB), 403},
		{"a link in her sandbox to bob's", "alice", files("read", s.sandboxA+"/bobs"), 403},
		{"the same link, for ops", "ops", files("read", s.sandboxA+"/bobs"), 200},
		{"her task's volume, through her sandbox", "alice", files("read", s.sandboxA+"/vol/data"), 200},
		{"another role's volume, linked into her sandbox", "alice", files("read", s.sandboxA+"/othervol/data"), 403},
		{"that link, for ops", "ops", files("read", s.sandboxA+"/othervol/data"), 200},
		{"her task's volume, by its own path", "alice", files("read", filepath.Join(s.volumeA, "data")), 403},
		{"climbing from hers into bob's", "alice", files("read", s.sandboxA+"/../../../../../G/executors/tb/runs/c3/stdout"), 403},
		{"climbing, percent-encoded", "alice", "/files/read?offset=0&path=" + s.sandboxA + "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/G/executors/tb/runs/c3/stdout", 403},
		{"the virtual path of hers", "alice", files("read", "/frameworks/F/executors/ta/runs/c1/stdout"), 200},
		{"the virtual path of bob's", "alice", files("read", "/frameworks/G/executors/tb/runs/latest/stdout"), 403},
		{"all of a framework's executors", "alice", files("browse", "/frameworks/F/executors"), 403},
		{"all of a framework's executors, for ops", "ops", files("browse", "/frameworks/F/executors"), 200},
		// An executor the agent no longer tracks (its tasks finished and
		// were acknowledged) is attributed to the run directory's owner.
		{"an untracked sandbox, for its owner's principal", "owner", files("read", s.orphan+"/stdout"), 200},
		{"an untracked sandbox, for alice", "alice", files("read", s.orphan+"/stdout"), 403},
	} {
		if status, body, _ := s.request(t, "GET", c.url, c.principal, nil); status != c.want {
			t.Errorf("%s: %d %q, want %d", c.name, status, body, c.want)
		}
	}
}

// view_tasks and view_frameworks leave out what a principal may not see.
func TestAgentStateShowsOnlyWhatThePrincipalMayView(t *testing.T) {
	s := startAuthzAgent(t)
	for principal, want := range map[string]string{"eve": "", "alice": "ta", "ops": "ta,tb"} {
		_, body, _ := s.request(t, "GET", "/state", principal, nil)
		var st stateView
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("%s: /state: %v: %q", principal, err, body)
		}
		var ids []string
		for _, task := range st.Tasks {
			ids = append(ids, task.ID)
		}
		if got := sortedJoin(ids); got != want {
			t.Errorf("%s: /state tasks %q, want %q", principal, got, want)
		}

		_, body = s.call(t, principal, &agentapipb.Call{Type: agentapipb.Call_GET_STATE.Enum()})
		resp := &agentapipb.Response{}
		if err := codec.JSON.Unmarshal([]byte(body), resp); err != nil {
			t.Fatalf("%s: GET_STATE: %v: %q", principal, err, body)
		}
		ids = nil
		for _, task := range resp.GetGetState().GetGetTasks().GetLaunchedTasks() {
			ids = append(ids, task.GetTaskId().GetValue())
		}
		if got := sortedJoin(ids); got != want {
			t.Errorf("%s: GET_STATE tasks %q, want %q", principal, got, want)
		}
		var fws []string
		for _, fw := range resp.GetGetState().GetGetFrameworks().GetFrameworks() {
			fws = append(fws, fw.GetFrameworkInfo().GetUser())
		}
		wantFws := map[string]string{"eve": "", "alice": "alice", "ops": "alice,bob"}[principal]
		if got := sortedJoin(fws); got != wantFws {
			t.Errorf("%s: GET_STATE frameworks of users %q, want %q", principal, got, wantFws)
		}
	}
}

func sortedJoin(s []string) string { return strings.Join(slices.Sorted(slices.Values(s)), ",") }
