package system

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A container's own address, as a shell in it sees it.
const containerIP = `IP=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1); export IP; `

// httpServer answers "hello from <task>" on its container's address only
// (not loopback): reaching it proves the address works.
const httpServer = containerIP + `exec perl -MIO::Socket::INET -e '$m = "hello from $ENV{MESOS_TASK_ID}";` +
	` $s = IO::Socket::INET->new(LocalAddr => "$ENV{IP}:8080", Listen => 16, ReuseAddr => 1) or die "listen: $!";` +
	` while ($c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\r\nContent-Length: " . length($m) . "\r\n\r\n$m"; close $c }'`

// httpGet defines get(host:port) in perl: the body, retried for a while.
const httpGet = `use IO::Socket::INET; sub get { my ($h) = @_; for (1..100) { my $c = IO::Socket::INET->new(PeerAddr => $h, Timeout => 2);` +
	` if ($c) { print $c "GET / HTTP/1.0\r\n\r\n"; local $/; my $r = <$c>; $r =~ s/.*\r\n\r\n//s; return $r } select(undef, undef, undef, 0.1) }` +
	` die "cannot reach $h: $!" } `

// The whole of issue 20 on real processes in a namespace of the test's
// own: corral dev (master, one agent on a CNI bridge network, the
// service and pets frameworks, corral dns on the bridge) and one more
// agent, killed and restarted.
func TestCNINetworking(t *testing.T) {
	e := newCNIEnv(t)
	dev := e.start("dev", "dev", "--agents", "1", "--work-dir", filepath.Join(e.root, "dev"), "--network-cni-config-dir", e.confDir,
		"--dns-listen", cniGateway+":53", "--agent-resources", "cpus:8;mem:4096;disk:2000;ports:[31000-31099]")
	waitLog(t, dev, "corral dev: ready", 60*time.Second)
	const master = "127.0.0.1:5050"
	restartable := e.start("agent", "agent", "--listen", "127.0.0.1:5060", "--master", master, "--hostname", "agent-r",
		"--work-dir", filepath.Join(e.root, "agent"), "--isolation", "linux", "--cgroups-root", "/"+e.cgroups,
		"--network-cni-config-dir", e.confDir, "--dns", cniGateway, "--resources", "cpus:2;mem:1024;disk:1000;ports:[32000-32099]",
		"--executor-shutdown-grace-period", "200ms")
	waitFor(t, 30*time.Second, "two agents", func() bool {
		return e.agentCount(master) == 2
	})
	f := startStepFramework(t, master, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("cni")},
		func(c *sdk.Config) { c.HTTPClient = &http.Client{Transport: e.client.Transport} })

	t.Run("two tasks, their addresses, DNS and a port mapping", func(t *testing.T) { testTwoTasks(t, e, f, master) })
	t.Run("a task group shares one network", func(t *testing.T) { testGroup(t, e, f) })
	t.Run("agent kill -9 and restart", func(t *testing.T) { testAgentRestart(t, e, f, master, restartable) })
	t.Run("a Marathon app and a pet set", func(t *testing.T) { testAppAndPets(t, e, master) })
}

// launchOn queues a task for the agent named host; mutate shapes it.
func launchOn(f *stepFramework, host, id, cmd string, ports int, mutate func(*mesospb.TaskInfo, []uint64)) {
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		if o.GetHostname() != host {
			return nil
		}
		space := sdk.NewSpace(o)
		res, ok := space.Take(0.1, 32, 0, ports)
		if !ok {
			return nil
		}
		ti := sdk.CommandTask(id, id, o, cmd, res)
		var hostPorts []uint64
		for _, r := range res.Ranges("ports") {
			for p := r.GetBegin(); p <= r.GetEnd(); p++ {
				hostPorts = append(hostPorts, p)
			}
		}
		if mutate != nil {
			mutate(ti, hostPorts)
		}
		return []*mesospb.Offer_Operation{sdk.LaunchOperation(ti)}
	}
}

// onCNI puts a task on the test's network, mapping host ports to 8080.
func onCNI(network string) func(*mesospb.TaskInfo, []uint64) {
	return func(ti *mesospb.TaskInfo, hostPorts []uint64) {
		ni := &mesospb.NetworkInfo{Name: proto.String(network)}
		for _, p := range hostPorts {
			ni.PortMappings = append(ni.PortMappings, &mesospb.NetworkInfo_PortMapping{HostPort: proto.Uint32(uint32(p)), ContainerPort: proto.Uint32(8080)})
		}
		ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), NetworkInfos: []*mesospb.NetworkInfo{ni}}
	}
}

// statusIP is the one address an update reports, in the test's range.
func statusIP(t *testing.T, st *mesospb.TaskStatus) string {
	t.Helper()
	var ips []string
	for _, ni := range st.GetContainerStatus().GetNetworkInfos() {
		if ni.GetName() != cniNet {
			t.Fatalf("%s: network %q, want %s", st.GetTaskId().GetValue(), ni.GetName(), cniNet)
		}
		for _, ip := range ni.GetIpAddresses() {
			ips = append(ips, ip.GetIpAddress())
		}
	}
	if len(ips) != 1 {
		t.Fatalf("%s: %s reports addresses %v, want one", st.GetTaskId().GetValue(), st.GetState(), ips)
	}
	if ip, err := netip.ParseAddr(ips[0]); err != nil || !netip.MustParsePrefix(cniSubnet).Contains(ip) {
		t.Fatalf("%s: address %s, want one in %s", st.GetTaskId().GetValue(), ips[0], cniSubnet)
	}
	return ips[0]
}

func isRunning(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING }

func testTwoTasks(t *testing.T, e *cniEnv, f *stepFramework, master string) {
	// The server, health-checked by the agent on its address (it does not
	// listen on loopback), with a host port mapped to it.
	var hostPort uint64
	launchOn(f, "agent-0", "server", httpServer, 1, func(ti *mesospb.TaskInfo, ports []uint64) {
		onCNI(cniNet)(ti, ports)
		hostPort = ports[0]
		ti.HealthCheck = &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(),
			Http:         &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(8080), Path: proto.String("/")},
			DelaySeconds: proto.Float64(0), IntervalSeconds: proto.Float64(0.2), GracePeriodSeconds: proto.Float64(20)}
	})
	running := f.waitFor(t, "server", "TASK_RUNNING", isRunning)
	serverIP := statusIP(t, running)
	healthy := f.waitFor(t, "server", "healthy", func(st *mesospb.TaskStatus) bool { return st.Healthy != nil && st.GetHealthy() })
	if ip := statusIP(t, healthy); ip != serverIP {
		t.Fatalf("the health update reports %s, the RUNNING one %s", ip, serverIP)
	}
	// The master keeps it, for GET_TASKS.
	var inMaster string
	for _, task := range e.operator(master, masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
		if task.GetTaskId().GetValue() == "server" && len(task.GetStatuses()) > 0 {
			inMaster = statusIP(t, task.GetStatuses()[len(task.GetStatuses())-1])
		}
	}
	if inMaster != serverIP {
		t.Errorf("GET_TASKS shows the server at %q, want %s", inMaster, serverIP)
	}
	// Its name is its container's address.
	waitFor(t, 5*time.Second, "server.cni.corral to resolve", func() bool {
		addrs, _ := e.resolve("server.cni.corral")
		return len(addrs) == 1 && addrs[0] == serverIP
	})
	// The mapped host port on the agent's address reaches it.
	want := "hello from server"
	if code, body, err := e.get(fmt.Sprintf("http://%s:%d/", cniGateway, hostPort)); err != nil || code != 200 || body != want {
		t.Fatalf("host port %d: %d %q %v, want %q", hostPort, code, body, err, want)
	}

	// The client, on the same network: by address and by name.
	client := `exec perl -e '` + httpGet + `print "by ip: ", get("$ENV{SERVER}:8080"), "\n"; print "by name: ", get("server.cni.corral:8080"), "\n"'`
	launchOn(f, "agent-0", "client", client, 0, func(ti *mesospb.TaskInfo, ports []uint64) {
		onCNI(cniNet)(ti, ports)
		ti.Command.Environment = &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
			{Name: proto.String("SERVER"), Value: proto.String(serverIP)}}}
	})
	clientIP := statusIP(t, f.waitFor(t, "client", "TASK_RUNNING", isRunning))
	if clientIP == serverIP {
		t.Fatalf("both tasks have %s", serverIP)
	}
	if st := f.final(t, "client"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("the client: %s\n%s", sdk.Describe(st), sandboxFile(e, "client", "stderr"))
	}
	out := sandboxFile(e, "client", "stdout")
	if !strings.Contains(out, "by ip: "+want) || !strings.Contains(out, "by name: "+want) {
		t.Fatalf("the client's stdout %q, want the server by address and by name", out)
	}

	// An unknown network fails the task, naming it.
	launchOn(f, "agent-0", "lost", "true", 0, onCNI("no-such-net"))
	if st := f.final(t, "lost"); st.GetState() != mesospb.TaskState_TASK_FAILED || !strings.Contains(st.GetMessage(), `unknown CNI network "no-such-net"`) {
		t.Errorf("a task on an unknown network: %s", sdk.Describe(st))
	}

	// Killing the server releases its address and its veth.
	if !e.ipamHolds(serverIP) {
		t.Fatalf("host-local does not hold the server's %s", serverIP)
	}
	if err := f.s.Kill(context.Background(), "server", running.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	if st := f.final(t, "server"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Fatalf("the server: %s", sdk.Describe(st))
	}
	waitFor(t, 10*time.Second, "the addresses released and no veth left", func() bool {
		return !e.ipamHolds(serverIP) && !e.ipamHolds(clientIP) && len(e.veths()) == 0
	})
}

// sandboxFile reads a file of task's latest run under the test's root.
func sandboxFile(e *cniEnv, task, name string) string {
	dirs, _ := filepath.Glob(filepath.Join(e.root, "*", "*", "agents", "*", "frameworks", "*", "executors", task, "runs", "latest", name))
	more, _ := filepath.Glob(filepath.Join(e.root, "*", "agents", "*", "frameworks", "*", "executors", task, "runs", "latest", name))
	for _, d := range append(dirs, more...) {
		if b, err := os.ReadFile(d); err == nil {
			return string(b)
		}
	}
	return ""
}

// A task group's network is the group's: made before its first task,
// shared by its tasks (one address: a task reaches its sibling on its own
// address), kept for the one still running after the other has finished,
// and released once the group is over.
func testGroup(t *testing.T, e *cniEnv, f *stepFramework) {
	main := containerIP + `exec perl -e '` + httpGet + `print "reached ", get("$ENV{IP}:8080"), "\n"'`
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		if o.GetHostname() != "agent-0" {
			return nil
		}
		space := sdk.NewSpace(o)
		exRes, ok1 := space.Take(0.1, 32, 0, 0)
		sRes, ok2 := space.Take(0.1, 32, 0, 0)
		mRes, ok3 := space.Take(0.1, 32, 0, 0)
		if !ok1 || !ok2 || !ok3 {
			return nil
		}
		return []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
			Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("pod")},
				Resources: exRes, Container: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
					NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String(cniNet)}}}},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{
				sdk.CommandTask("sidecar", "sidecar", o, httpServer, sRes), sdk.CommandTask("main", "main", o, main, mRes)}},
		}}}
	}
	ips := map[string]string{}
	var agentID string
	deadline := time.After(60 * time.Second)
	for ips["sidecar"] == "" || ips["main"] == "" {
		select {
		case st := <-f.updates:
			id := st.GetTaskId().GetValue()
			if st.GetState() == mesospb.TaskState_TASK_RUNNING && ips[id] == "" {
				ips[id], agentID = statusIP(t, st), st.GetAgentId().GetValue()
			} else if mesospb.IsTerminal(st.GetState()) && id == "sidecar" {
				t.Fatalf("the sidecar: %s", sdk.Describe(st))
			}
		case <-deadline:
			t.Fatalf("the group's tasks are not both running: %v", ips)
		}
	}
	if ips["sidecar"] != ips["main"] {
		t.Fatalf("the group's tasks report %s and %s, want one address", ips["sidecar"], ips["main"])
	}
	if st := f.final(t, "main"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("main: %s\n%s", sdk.Describe(st), sandboxFile(e, "main", "stderr"))
	}
	if out := groupSandboxFile(e, "main", "stdout"); !strings.Contains(out, "reached hello from sidecar") {
		t.Fatalf("main's stdout %q, want the sidecar reached on their shared address", out)
	}
	url := "http://" + ips["sidecar"] + ":8080/"
	if _, body, err := e.get(url); body != "hello from sidecar" {
		t.Fatalf("after main finished, GET %s = %q, %v: the group's network went with its first task", url, body, err)
	}
	if err := f.s.Kill(context.Background(), "sidecar", agentID); err != nil {
		t.Fatal(err)
	}
	f.final(t, "sidecar")
	waitFor(t, 10*time.Second, "the group's address released and no veth left", func() bool {
		return !e.ipamHolds(ips["sidecar"]) && len(e.veths()) == 0
	})
}

// groupSandboxFile reads a file of a group task's sandbox.
func groupSandboxFile(e *cniEnv, task, name string) string {
	dirs, _ := filepath.Glob(filepath.Join(e.root, "dev", "*", "agents", "*", "frameworks", "*", "executors", "pod", "runs", "latest", "tasks", task, name))
	for _, d := range dirs {
		if b, err := os.ReadFile(d); err == nil {
			return string(b)
		}
	}
	return ""
}
