package system

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// An agent killed with SIGKILL and restarted takes its tasks back: those
// still running stay running and tracked, those that ended while it was
// down are reported once, with their real exit status.
func TestAgentKilledAndRestartedRecoversItsTasks(t *testing.T) {
	for _, isolation := range []string{"posix", "linux"} {
		t.Run(isolation, func(t *testing.T) {
			if isolation == "linux" {
				if why := containerizer.LinuxAvailable(); why != "" {
					if os.Getenv("CI") == "true" {
						t.Fatalf("linux isolation tests need it: %s", why)
					}
					t.Skipf("linux isolation unavailable: %s", why)
				}
			}
			testAgentRecovery(t, isolation)
		})
	}
}

func testAgentRecovery(t *testing.T, isolation string) {
	const running, finishing = 20, 5
	root := t.TempDir()
	cgroupRoot := fmt.Sprintf("corral-recovery-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeCgroups(cgroupRoot) })
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	list := isolation
	if isolation == "linux" {
		// Spelled out, as an operator would choose the isolators.
		list = "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,filesystem/linux"
	}
	agentArgs := []string{"agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--isolation", list, "--cgroups-root", "/" + cgroupRoot, "--resources", "cpus:4;mem:2048",
		"--executor-shutdown-grace-period", "200ms", "--log-level", "debug"}
	agentProc := startProc(t, "agent", agentArgs...)

	var mu sync.Mutex
	updates := map[string][]mesospb.TaskState{}
	launched := false
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: addr, Logger: testLogger(),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("recovery"), FailoverTimeout: proto.Float64(3600)}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				if launched {
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 3600); err != nil {
						return err
					}
					continue
				}
				launched = true
				space := sdk.NewSpace(o)
				var tasks []*mesospb.TaskInfo
				for i := range running + finishing {
					res, _ := space.Take(0.1, 32, 0, 0)
					cmd, id := "sleep 300", fmt.Sprintf("run-%02d", i)
					if i >= running {
						cmd, id = "sleep 5", fmt.Sprintf("end-%d", i-running)
					}
					tasks = append(tasks, sdk.CommandTask(id, id, o, cmd, res))
				}
				if err := s.Launch(ctx, o, 3600, tasks...); err != nil {
					return err
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				mu.Lock()
				updates[st.GetTaskId().GetValue()] = append(updates[st.GetTaskId().GetValue()], st.GetState())
				mu.Unlock()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	ctx := t.Context()

	count := func(state mesospb.TaskState) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, states := range updates {
			for _, st := range states {
				if st == state {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, 60*time.Second, "all tasks running", func() bool { return count(mesospb.TaskState_TASK_RUNNING) == running+finishing })
	// TASK_RUNNING is sent once the container is started, which can be a
	// moment before its shell has exec'd sleep: wait for every process.
	var before []int
	waitFor(t, 30*time.Second, "every task's sleep process", func() bool {
		before = withArgs(sandboxTasks(root, "sleep"), "300")
		return len(before) == running && len(withArgs(sandboxTasks(root, "sleep"), "5")) == finishing
	})

	agentProc.kill9()
	if n := count(mesospb.TaskState_TASK_FINISHED); n != 0 {
		t.Fatalf("%d tasks finished before the agent was killed; the test needs them to end while it is down", n)
	}
	// The five `sleep 5` end while the agent is down.
	waitFor(t, 30*time.Second, "the finishing tasks to exit", func() bool {
		return len(withArgs(sandboxTasks(root, "sleep"), "5")) == 0
	})
	agentProc.start()

	waitFor(t, 60*time.Second, "the five to be reported finished", func() bool { return count(mesospb.TaskState_TASK_FINISHED) == finishing })
	// Ask the master about every task: the twenty are running.
	var tasks []*schedulerpb.Call_Reconcile_Task
	for i := range running {
		tasks = append(tasks, &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String(fmt.Sprintf("run-%02d", i))}})
	}
	if err := s.Reconcile(ctx, tasks...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "reconciliation to report the twenty running", func() bool {
		return count(mesospb.TaskState_TASK_RUNNING) >= 2*running+finishing
	})
	mu.Lock()
	for id, states := range updates {
		terminal := 0
		for _, st := range states {
			if mesospb.IsTerminal(st) {
				terminal++
			}
		}
		if (id[:3] == "end" && terminal != 1) || (id[:3] == "run" && terminal != 0) {
			t.Errorf("task %s got %v", id, states)
		}
	}
	mu.Unlock()
	if now := withArgs(sandboxTasks(root, "sleep"), "300"); !slices.Equal(now, before) {
		t.Fatalf("sleep processes: %v before the restart, %v after; want the same %d, untouched", before, now, running)
	}

	// The recovered agent still controls its tasks: kill one.
	if err := s.Kill(ctx, "run-00", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "run-00 killed", func() bool { return count(mesospb.TaskState_TASK_KILLED) == 1 })
	if isolation == "linux" {
		waitFor(t, 30*time.Second, "run-00's container to be cleaned up", func() bool {
			entries, _ := os.ReadDir("/sys/fs/cgroup/memory/" + cgroupRoot)
			dirs := 0
			for _, e := range entries {
				if e.IsDir() {
					dirs++
				}
			}
			return dirs == running-1
		})
	}
}

// withArgs keeps the pids whose last argument is arg.
func withArgs(pids []int, arg string) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if args[len(args)-1] == arg {
			out = append(out, pid)
		}
	}
	return out
}

// removeCgroups removes what containers of a test left under a cgroup
// root (tasks killed behind a stopped agent's back leave empty cgroups).
func removeCgroups(root string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/" + root)
		for _, h := range hierarchies {
			children, _ := os.ReadDir(h)
			for _, c := range children {
				if c.IsDir() {
					_ = os.Remove(filepath.Join(h, c.Name()))
				}
			}
			_ = os.Remove(h)
		}
		if left, _ := filepath.Glob("/sys/fs/cgroup/*/" + root); len(left) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond) // killed processes take a moment to leave their cgroups
	}
}
