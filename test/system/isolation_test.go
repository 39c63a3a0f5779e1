package system

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
)

// stepFramework launches what the test hands it, one task per offer, and
// hands back the updates.
type stepFramework struct {
	s *sdk.Scheduler
	// tasks hands the next step an offer; a step returns nil when the
	// offer is too small for it.
	tasks   chan func(*mesospb.Offer) []*mesospb.Offer_Operation
	updates chan *mesospb.TaskStatus
}

func startStepFramework(t *testing.T, master string, info *mesospb.FrameworkInfo, adjust ...func(*sdk.Config)) *stepFramework {
	t.Helper()
	f := &stepFramework{tasks: make(chan func(*mesospb.Offer) []*mesospb.Offer_Operation, 10), updates: make(chan *mesospb.TaskStatus, 100)}
	cfg := sdk.Config{Master: master, Framework: info, Logger: testLogger()}
	for _, a := range adjust {
		a(&cfg)
	}
	s, err := sdk.New(cfg,
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case build := <-f.tasks:
					ops := build(o)
					if ops == nil {
						// Too small (a fragment of an agent): wait for another.
						f.tasks <- build
						if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0); err != nil {
							return err
						}
						continue
					}
					if err := f.s.Accept(ctx, []*mesospb.OfferID{o.GetId()}, ops, 0); err != nil {
						return err
					}
				default:
					if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0.05); err != nil {
						return err
					}
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.updates <- st
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(testkit.RunInBackground(s.Run))
	return f
}

// final waits for task id's terminal update.
func (f *stepFramework) final(t *testing.T, id string) *mesospb.TaskStatus {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case st := <-f.updates:
			if st.GetTaskId().GetValue() == id && mesospb.IsTerminal(st.GetState()) {
				return st
			}
		case <-deadline:
			t.Fatalf("task %s did not end within 60s", id)
			return nil
		}
	}
}

// waitFor waits for an update of task id that satisfies want.
func (f *stepFramework) waitFor(t *testing.T, id, what string, want func(*mesospb.TaskStatus) bool) *mesospb.TaskStatus {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case st := <-f.updates:
			if st.GetTaskId().GetValue() != id {
				continue
			}
			if want(st) {
				return st
			}
			if mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("task %s ended waiting for %s: %s", id, what, sdk.Describe(st))
			}
		case <-deadline:
			t.Fatalf("task %s: no update with %s within 60s", id, what)
			return nil
		}
	}
}

func (f *stepFramework) run(t *testing.T, id, cmd string, cpus, mem float64, mutate func(*mesospb.TaskInfo, *mesospb.Offer) []*mesospb.Offer_Operation) *mesospb.TaskStatus {
	t.Helper()
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		res, ok := sdk.NewSpace(o).Take(cpus, mem, 0, 0)
		if !ok {
			return nil
		}
		ti := sdk.CommandTask(id, id, o, cmd, res)
		var ops []*mesospb.Offer_Operation
		if mutate != nil {
			ops = mutate(ti, o)
		}
		return append(ops, sdk.LaunchOperation(ti))
	}
	start := time.Now()
	defer func() { t.Logf("%s took %v", id, time.Since(start).Round(time.Millisecond)) }()
	return f.final(t, id)
}

// Tasks on an agent with linux isolation run in containers: limited,
// with their own PID namespace and hostname, and persistent volumes
// mounted at their paths.
func TestLinuxIsolation(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("linux isolation tests need it: %s", why)
		}
		t.Skipf("linux isolation unavailable: %s", why)
	}
	root := t.TempDir()
	t.Cleanup(func() { removeCgroups("corral-system-test") })
	t.Cleanup(func() { killSandboxTasks(root) })
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "settings"), []byte("answer=42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, agentAddr := freeAddr(t), freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	startProc(t, "agent", "agent", "--listen", agentAddr, "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--isolation", "linux", "--cgroups-enable-cfs", "--container-pids-limit", "64", "--cgroups-root", "/corral-system-test",
		"--resources", "cpus:2;mem:1024;disk:100;disk(db):100", "--executor-shutdown-grace-period", "200ms",
		"--allowed-host-paths", shared)
	f := startStepFramework(t, addr, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("isolation"), Role: proto.String("db")})

	st := f.run(t, "identity", `h=$(hostname); n=$(ls /proc | grep -c '^[0-9]'); echo "$h $$ $n"; test "$h" = db-1 && test $$ -lt 10 && test "$n" -le 6`, 0.1, 32,
		func(ti *mesospb.TaskInfo, _ *mesospb.Offer) []*mesospb.Offer_Operation {
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("db-1")}
			return nil
		})
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("identity: %s; want hostname db-1, a PID near 1 and no other processes in sight; it printed %q",
			sdk.Describe(st), sandboxOutput(root, "identity"))
	}

	st = f.run(t, "hog", "head -c 300m /dev/zero | tail", 0.1, 32, nil)
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY ||
		resources.Resources(st.GetLimitation().GetResources()).ScalarValue("mem") != 32 {
		t.Fatalf("hog: %s (limitation %v); want TASK_FAILED for its 32 MiB memory limit", sdk.Describe(st), st.GetLimitation())
	}

	st = f.run(t, "forkbomb", "for i in $(seq 500); do sleep 30 & done; wait", 0.1, 64, nil)
	if st.GetState() != mesospb.TaskState_TASK_FAILED {
		t.Fatalf("forkbomb: %s; want it stopped by the pids limit", sdk.Describe(st))
	}
	if resp, err := http.Get("http://" + agentAddr + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the agent is not healthy after the fork bomb: %v", err)
	}

	// A command health check runs inside the container: only there is
	// the hostname db-2.
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		res, ok := sdk.NewSpace(o).Take(0.1, 32, 0, 0)
		if !ok {
			return nil
		}
		ti := sdk.CommandTask("checked", "checked", o, "sleep 60", res)
		ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("db-2")}
		ti.HealthCheck = &mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(),
			Command:      &mesospb.CommandInfo{Value: proto.String(`test "$(hostname)" = db-2`)},
			DelaySeconds: proto.Float64(0), IntervalSeconds: proto.Float64(0.1), GracePeriodSeconds: proto.Float64(0)}
		return []*mesospb.Offer_Operation{sdk.LaunchOperation(ti)}
	}
	st = f.waitFor(t, "checked", "healthy=true", func(st *mesospb.TaskStatus) bool { return st.Healthy != nil && st.GetHealthy() })
	if err := f.s.Kill(context.Background(), "checked", st.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	f.final(t, "checked")

	// Host paths: mounted read-only where allowed, refused elsewhere.
	hostVolume := func(path string) func(*mesospb.TaskInfo, *mesospb.Offer) []*mesospb.Offer_Operation {
		return func(ti *mesospb.TaskInfo, _ *mesospb.Offer) []*mesospb.Offer_Operation {
			ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Volumes: []*mesospb.Volume{{
				ContainerPath: proto.String("/config"), HostPath: proto.String(path), Mode: mesospb.Volume_RO.Enum()}}}
			return nil
		}
	}
	if st := f.run(t, "hostpath", "grep -q answer=42 /config/settings && ! touch /config/x 2>/dev/null", 0.1, 32, hostVolume(shared)); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("hostpath: %s", sdk.Describe(st))
	}
	if st := f.run(t, "forbidden", "true", 0.1, 32, hostVolume("/etc")); st.GetState() != mesospb.TaskState_TASK_FAILED ||
		!strings.Contains(st.GetMessage(), "allowed-host-paths") {
		t.Fatalf("forbidden: %s; want a launch failure naming --allowed-host-paths", sdk.Describe(st))
	}

	// A persistent volume on the statically reserved disk, mounted into
	// two containers in turn.
	vol := resources.Scalar("disk", 100)
	vol.Role = proto.String("db")
	vol.Disk = &mesospb.Resource_DiskInfo{
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("data")},
		Volume:      &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()},
	}
	withVolume := func(create bool) func(*mesospb.TaskInfo, *mesospb.Offer) []*mesospb.Offer_Operation {
		return func(ti *mesospb.TaskInfo, _ *mesospb.Offer) []*mesospb.Offer_Operation {
			ti.Resources = append(ti.Resources, vol)
			if !create {
				return nil
			}
			return []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_CREATE.Enum(),
				Create: &mesospb.Offer_Operation_Create{Volumes: []*mesospb.Resource{vol}}}}
		}
	}
	if st := f.run(t, "writer", "hostname > data/who && echo kept >> data/who", 0.1, 32, withVolume(true)); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("writer: %s", sdk.Describe(st))
	}
	if st := f.run(t, "reader", `grep -q kept data/who`, 0.1, 32, withVolume(false)); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("reader: %s; the volume's data did not survive the writer", sdk.Describe(st))
	}
}

// sandboxOutput is what a task printed, for failure messages.
func sandboxOutput(root, task string) string {
	files, _ := filepath.Glob(filepath.Join(root, "agent", "agents", "*", "frameworks", "*", "executors", task, "runs", "*", "std*"))
	var out []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		out = append(out, filepath.Base(f)+": "+strings.TrimSpace(string(b)))
	}
	return strings.Join(out, "; ")
}

// With --network isolated a task has its own network namespace: its ports
// are not the host's, and the agent still health-checks it from inside.
func TestIsolatedNetworkHealthCheck(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("linux isolation tests need it: %s", why)
		}
		t.Skipf("linux isolation unavailable: %s", why)
	}
	root := t.TempDir()
	cgroupRoot := fmt.Sprintf("corral-netns-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeCgroups(cgroupRoot) })
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	startProc(t, "agent", "agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--isolation", "linux", "--network", "isolated", "--cgroups-root", "/"+cgroupRoot, "--resources", "cpus:1;mem:512",
		"--executor-shutdown-grace-period", "200ms")
	f := startStepFramework(t, addr, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("netns")})

	_, portText, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(portText)
	server := fmt.Sprintf(`exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:%d", Listen => 5, ReuseAddr => 1) or die "listen: $!";`+
		` while ($c = $s->accept) { <$c>; print $c "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"; close $c }'`, port)
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		res, ok := sdk.NewSpace(o).Take(0.1, 64, 0, 0)
		if !ok {
			return nil
		}
		ti := sdk.CommandTask("web", "web", o, server, res)
		ti.HealthCheck = &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(),
			Http:         &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(uint32(port)), Path: proto.String("/")},
			DelaySeconds: proto.Float64(0), IntervalSeconds: proto.Float64(0.1), GracePeriodSeconds: proto.Float64(5)}
		return []*mesospb.Offer_Operation{sdk.LaunchOperation(ti)}
	}
	st := f.waitFor(t, "web", "healthy=true", func(st *mesospb.TaskStatus) bool { return st.Healthy != nil && st.GetHealthy() })
	// The host's loopback does not reach it.
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", portText), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d of the task's isolated network answered on the host", port)
	}
	if err := f.s.Kill(context.Background(), "web", st.GetAgentId().GetValue()); err != nil {
		t.Fatal(err)
	}
	f.final(t, "web")
}

// With --network isolated, the tasks of a group share one network
// namespace, as a pod's containers do: a task reaches its sibling on
// 127.0.0.1, which the host does not.
func TestTaskGroupSharesItsNetwork(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("linux isolation tests need it: %s", why)
		}
		t.Skipf("linux isolation unavailable: %s", why)
	}
	root := t.TempDir()
	cgroupRoot := fmt.Sprintf("corral-pod-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeCgroups(cgroupRoot) })
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	startProc(t, "agent", "agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--isolation", "linux", "--network", "isolated", "--cgroups-root", "/"+cgroupRoot, "--resources", "cpus:1;mem:512",
		"--executor-shutdown-grace-period", "200ms")
	f := startStepFramework(t, addr, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("pod")})

	_, portText, _ := net.SplitHostPort(freeAddr(t))
	server := fmt.Sprintf(`exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:%s", Listen => 5, ReuseAddr => 1) or die "listen: $!";`+
		` while ($c = $s->accept) { print $c "hello from the sidecar\n"; close $c }'`, portText)
	client := fmt.Sprintf(`exec perl -MIO::Socket::INET -e 'for (1..100) { $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:%s"); if ($c) { print <$c>; exit 0 } select(undef, undef, undef, 0.1) } die "no sidecar"'`, portText)
	f.tasks <- func(o *mesospb.Offer) []*mesospb.Offer_Operation {
		space := sdk.NewSpace(o)
		exRes, ok1 := space.Take(0.1, 32, 0, 0)
		sRes, ok2 := space.Take(0.1, 64, 0, 0)
		cRes, ok3 := space.Take(0.1, 64, 0, 0)
		if !ok1 || !ok2 || !ok3 {
			return nil
		}
		return []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
			Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
				ExecutorId: &mesospb.ExecutorID{Value: proto.String("pod")}, Resources: exRes},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{
				sdk.CommandTask("sidecar", "sidecar", o, server, sRes), sdk.CommandTask("main", "main", o, client, cRes)}},
		}}}
	}
	if st := f.final(t, "main"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("the task reaching its sibling: %s", sdk.Describe(st))
	}
	out, _ := os.ReadFile(filepath.Join(findSandbox(t, root, "main"), "stdout"))
	if !strings.Contains(string(out), "hello from the sidecar") {
		t.Fatalf("main's stdout %q, want the sidecar's greeting", out)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", portText), time.Second); err == nil {
		c.Close()
		t.Fatalf("the pod's port %s answered on the host", portText)
	}
}

// findSandbox finds a task's sandbox directory under root.
func findSandbox(t *testing.T, root, task string) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(root, "agent", "agents", "*", "frameworks", "*", "executors", "*", "runs", "latest", "tasks", task))
	if len(dirs) != 1 {
		t.Fatalf("sandbox of %s: found %v", task, dirs)
	}
	return dirs[0]
}
