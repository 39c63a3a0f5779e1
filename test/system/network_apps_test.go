package system

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/netnstest"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// An agent killed with SIGKILL and restarted: a container still running
// keeps its address (and answers on it), one that ended meanwhile has its
// address released; both are cleaned up once they end.
func testAgentRestart(t *testing.T, e *cniEnv, f *stepFramework, master string, agent *proc) {
	launchOn(f, "agent-r", "survivor", httpServer, 1, onCNI(cniNet))
	survivor := f.waitFor(t, "survivor", "TASK_RUNNING", isRunning)
	survivorIP := statusIP(t, survivor)
	launchOn(f, "agent-r", "doomed", "exec sleep 600", 0, onCNI(cniNet))
	doomed := f.waitFor(t, "doomed", "TASK_RUNNING", isRunning)
	doomedIP := statusIP(t, doomed)
	url := "http://" + survivorIP + ":8080/"
	waitFor(t, 10*time.Second, "the survivor to answer", func() bool { _, body, _ := e.get(url); return body == "hello from survivor" })

	agent.kill9()
	if err := syscall.Kill(int(doomed.GetContainerStatus().GetExecutorPid()), syscall.SIGKILL); err != nil {
		t.Fatalf("killing the doomed task's container: %v", err)
	}
	agent.start()
	if st := f.final(t, "doomed"); !mesospb.IsTerminal(st.GetState()) {
		t.Fatalf("the task that ended while its agent was down: %s", sdk.Describe(st))
	}
	waitFor(t, 10*time.Second, "the address of the task that ended while its agent was down to be released", func() bool {
		return !e.ipamHolds(doomedIP)
	})
	if !e.ipamHolds(survivorIP) {
		t.Fatalf("the restart released the survivor's %s", survivorIP)
	}
	if _, body, err := e.get(url); body != "hello from survivor" {
		t.Fatalf("after the restart, GET %s = %q, %v", url, body, err)
	}
	waitFor(t, 10*time.Second, "the master to show the survivor running at its address", func() bool {
		for _, task := range e.operator(master, masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
			if task.GetTaskId().GetValue() == "survivor" && task.GetState() == mesospb.TaskState_TASK_RUNNING && len(task.GetStatuses()) > 0 {
				return statusIP(t, task.GetStatuses()[len(task.GetStatuses())-1]) == survivorIP
			}
		}
		return false
	})
	if err := f.s.Kill(context.Background(), "survivor", survivor.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	if st := f.final(t, "survivor"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Fatalf("the survivor: %s", sdk.Describe(st))
	}
	waitFor(t, 10*time.Second, "the survivor's address released and no veth left", func() bool {
		return !e.ipamHolds(survivorIP) && len(e.veths()) == 0
	})
}

// The perl of a server answering "hello from <task>" on the container's
// address, run in a child process.
const serverChild = `if (fork() == 0) { my $m = "hello from $ENV{MESOS_TASK_ID}";` +
	` my $s = IO::Socket::INET->new(LocalAddr => "$ENV{IP}:8080", Listen => 16, ReuseAddr => 1) or die "listen: $!";` +
	` while (my $c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\r\nContent-Length: " . length($m) . "\r\n\r\n$m"; close $c } exit 0 } `

// A Marathon app on the CNI network: an address per instance, in its task
// JSON and in `corral tasks`, and its instances find each other by their
// corral dns name. A pet set on the network: its members resolve each
// other's stable names (db-0.db.pets.corral) to their addresses.
func testAppAndPets(t *testing.T, e *cniEnv, master string) {
	peer := containerIP + `exec perl -e '$| = 1; ` + httpGet + `use Socket; ` + serverChild +
		`for (1..600) { my @r = gethostbyname("peers.service.corral"); my @o = grep { $_ ne $ENV{IP} } map { inet_ntoa($_) } @r[4..$#r];` +
		` if (@o) { print "reached ", get("$o[0]:8080"), "\n"; last } select(undef, undef, undef, 0.1) } sleep 600'`
	app, _ := json.Marshal(map[string]any{"id": "/peers", "instances": 2, "cpus": 0.1, "mem": 32, "cmd": peer,
		"networks":  []map[string]string{{"mode": "container", "name": cniNet}},
		"container": map[string]any{"portMappings": []map[string]any{{"containerPort": 8080, "hostPort": 0, "name": "http"}}}})
	e.send(http.MethodPost, "http://127.0.0.1:8080/v2/apps", string(app), http.StatusCreated)

	var tasks []struct {
		ID          string              `json:"id"`
		State       string              `json:"state"`
		IPAddresses []map[string]string `json:"ipAddresses"`
	}
	ips := map[string]string{}
	waitFor(t, 60*time.Second, "two instances running, each with an address of its own", func() bool {
		code, body, err := e.get("http://127.0.0.1:8080/v2/apps/peers/tasks")
		if err != nil || code != 200 {
			return false
		}
		var resp struct{ Tasks json.RawMessage }
		if json.Unmarshal([]byte(body), &resp) != nil || json.Unmarshal(resp.Tasks, &tasks) != nil || len(tasks) != 2 {
			return false
		}
		clear(ips)
		for _, task := range tasks {
			if task.State != "TASK_RUNNING" || len(task.IPAddresses) != 1 {
				return false
			}
			ips[task.ID] = task.IPAddresses[0]["ipAddress"]
		}
		return len(ips) == 2 && ips[tasks[0].ID] != ips[tasks[1].ID]
	})
	for id, ip := range ips {
		if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix(cniSubnet).Contains(a) {
			t.Fatalf("instance %s has ipAddress %q, want one in %s", id, ip, cniSubnet)
		}
	}
	for _, task := range tasks {
		var other string
		for id := range ips {
			if id != task.ID {
				other = id
			}
		}
		if !eventually(30*time.Second, func() bool { return strings.Contains(sandboxFile(e, task.ID, "stdout"), "reached hello from "+other) }) {
			t.Fatalf("%s did not reach %s by name: stdout %q, stderr %q", task.ID, other, sandboxFile(e, task.ID, "stdout"), sandboxFile(e, task.ID, "stderr"))
		}
	}
	uiShowsAddresses(t, e, master, tasks[0].ID, ips[tasks[0].ID])
	out := e.run("tasks", "--master", master)
	for id, ip := range ips {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.Contains(l, id) && strings.Contains(l, ip) }) {
			t.Errorf("corral tasks does not show %s at %s:\n%s", id, ip, out)
		}
	}

	pet := `exec perl -e '$| = 1; use Socket; for (1..600) { my %ip; for my $n (qw(db-0 db-1)) { my @r = gethostbyname("$n.db.pets.corral");` +
		` $ip{$n} = inet_ntoa($r[4]) if @r > 4 } if (keys %ip == 2) { my ($a, $b) = map { $ip{$_} } qw(db-0 db-1); print "db-0=$a db-1=$b\n"; last }` +
		` select(undef, undef, undef, 0.1) } sleep 600'`
	set, _ := json.Marshal(map[string]any{"id": "db", "instances": 2, "cpus": 0.1, "mem": 32, "network": cniNet, "cmd": pet})
	e.send(http.MethodPost, "http://127.0.0.1:8081/v1/petsets", string(set), http.StatusCreated)
	petIPs := map[string]string{}
	waitFor(t, 60*time.Second, "both pets running on the network", func() bool {
		for _, task := range e.operator(master, masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
			name := task.GetName()
			if (name == "db-0" || name == "db-1") && task.GetState() == mesospb.TaskState_TASK_RUNNING && len(task.GetStatuses()) > 0 {
				petIPs[name] = statusIP(t, task.GetStatuses()[len(task.GetStatuses())-1])
			}
		}
		return len(petIPs) == 2
	})
	want := "db-0=" + petIPs["db-0"] + " db-1=" + petIPs["db-1"]
	for _, name := range []string{"db-0", "db-1"} {
		// The pets look both names up every 0.1 s for a minute; under load a
		// lost UDP query costs the resolver's 5 s timeout, so the window is
		// the pets' whole minute and more.
		if !eventually(90*time.Second, func() bool { return strings.Contains(petSandboxFile(e, name), want) }) {
			var dns []string
			for _, n := range []string{"db-0", "db-1"} {
				addrs, err := e.resolve(n + ".db.pets.corral")
				dns = append(dns, fmt.Sprintf("%s=%v (%v)", n, addrs, err))
			}
			t.Fatalf("%s did not resolve both pets' names to %s: stdout %q; corral dns answers the host %v", name, want, petSandboxFile(e, name), dns)
		}
		if addrs, err := e.resolve(name + ".db.pets.corral"); err != nil || len(addrs) != 1 || addrs[0] != petIPs[name] {
			t.Errorf("%s.db.pets.corral = %v, %v; want %s", name, addrs, err, petIPs[name])
		}
	}
}

// petSandboxFile reads the stdout of pet name's latest task.
func petSandboxFile(e *cniEnv, name string) string {
	for _, task := range e.operator("127.0.0.1:5050", masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
		if task.GetName() == name && task.GetState() == mesospb.TaskState_TASK_RUNNING {
			return sandboxFile(e, task.GetTaskId().GetValue(), "stdout")
		}
	}
	return ""
}

// uiShowsAddresses opens a task's page of the web UI in headless Chromium,
// inside the namespace, and wants its addresses on it.
func uiShowsAddresses(t *testing.T, e *cniEnv, master, taskID, ip string) {
	t.Helper()
	browser := ""
	for _, c := range []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(c); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		netnstest.Unavailable(t, "headless Chromium is missing (apt-get install chromium)")
		return
	}
	var fw string
	for _, task := range e.operator(master, masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
		if task.GetTaskId().GetValue() == taskID {
			fw = task.GetFrameworkId().GetValue()
		}
	}
	profile := t.TempDir()
	url := "http://" + master + "/#/tasks/" + fw + "/" + taskID
	var dom []byte
	ok := eventually(30*time.Second, func() bool {
		cmd := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
			"--user-data-dir="+profile, "--virtual-time-budget=5000", "--dump-dom", url)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
		var err error
		err = e.ns.Do(func() error { dom, err = cmd.Output(); return err })
		return err == nil && bytes.Contains(dom, []byte(`id="task-ips">`+ip+`<`))
	})
	if !ok {
		t.Errorf("the task page of %s does not show its address %s:\n%.2000s", taskID, ip, dom)
	}
}
