package system

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/images/rootfs"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// An agent killed with SIGKILL while tasks run from images takes them
// back: the running ones keep their root (still mounted, re-attached),
// the one that ended while it was down is reported with its exit status
// and its root is unmounted and removed; once the others are killed, no
// mount is left on the host.
func TestImageContainersSurviveAnAgentKill(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("image recovery needs linux isolation: %s", why)
		}
		t.Skip(why)
	}
	reg := registrytest.Start(t)
	image := reg.Addr + "/busybox:1"
	imagetest.Push(t, imagetest.Busybox(t), image)
	root := t.TempDir()
	store := filepath.Join(root, "agent", "store", "docker")
	cgroupRoot := fmt.Sprintf("corral-images-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeCgroups(cgroupRoot) })
	t.Cleanup(func() { killImageTasks(t, root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	agentProc := startProc(t, "agent", "agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", filepath.Join(root, "agent"),
		"--isolation", "linux", "--image-providers", "docker", "--cgroups-root", "/"+cgroupRoot, "--resources", "cpus:2;mem:1024",
		"--executor-shutdown-grace-period", "200ms", "--log-level", "debug")

	var mu sync.Mutex
	updates := map[string][]*mesospb.TaskStatus{}
	launched := false
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: addr, Logger: testLogger(),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("images"), FailoverTimeout: proto.Float64(3600)}},
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
				for id, cmd := range map[string]string{"run-0": "sleep 300", "run-1": "sleep 300", "end-0": "sleep 4; exit 3"} {
					res, _ := space.Take(0.1, 32, 0, 0)
					ti := sdk.CommandTask(id, id, o, cmd, res)
					ti.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{
						Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(image)}}}}
					tasks = append(tasks, ti)
				}
				if err := s.Launch(ctx, o, 3600, tasks...); err != nil {
					return err
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				mu.Lock()
				updates[st.GetTaskId().GetValue()] = append(updates[st.GetTaskId().GetValue()], st)
				mu.Unlock()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	ctx := t.Context()
	states := func(id string) []mesospb.TaskState {
		mu.Lock()
		defer mu.Unlock()
		var out []mesospb.TaskState
		for _, st := range updates[id] {
			out = append(out, st.GetState())
		}
		return out
	}
	has := func(id string, state mesospb.TaskState) bool { return slices.Contains(states(id), state) }

	waitFor(t, 60*time.Second, "the three tasks running", func() bool {
		return has("run-0", mesospb.TaskState_TASK_RUNNING) && has("run-1", mesospb.TaskState_TASK_RUNNING) && has("end-0", mesospb.TaskState_TASK_RUNNING)
	})
	var before []int
	waitFor(t, 30*time.Second, "the tasks' sleep processes in their image roots", func() bool {
		before = imageTasks(root, "sleep")
		return len(before) == 3
	})
	if n := len(mountsUnder(t, store)); n != 3 {
		t.Fatalf("%d root filesystems mounted for 3 tasks", n)
	}

	agentProc.kill9()
	if has("end-0", mesospb.TaskState_TASK_FAILED) {
		t.Fatal("end-0 ended before the agent was killed; the test needs it to end while the agent is down")
	}
	var survivors []int
	waitFor(t, 30*time.Second, "end-0 to exit while the agent is down", func() bool {
		survivors = imageTasks(root, "sleep")
		return len(survivors) == 2
	})
	agentProc.start()

	waitFor(t, 60*time.Second, "end-0 reported with its exit status", func() bool { return has("end-0", mesospb.TaskState_TASK_FAILED) })
	mu.Lock()
	last := updates["end-0"][len(updates["end-0"])-1]
	mu.Unlock()
	if !strings.Contains(last.GetMessage(), "status 3") {
		t.Errorf("end-0: %s, want its exit status 3", sdk.Describe(last))
	}
	waitFor(t, 30*time.Second, "end-0's root to be unmounted", func() bool { return len(mountsUnder(t, store)) == 2 })
	if now := imageTasks(root, "sleep"); !slices.Equal(now, survivors) || len(slices.DeleteFunc(slices.Clone(before), func(p int) bool { return !slices.Contains(now, p) })) != 2 {
		t.Fatalf("sleep processes: %v before the kill, %v after the restart; want the two running ones, untouched", before, now)
	}
	for _, id := range []string{"run-0", "run-1"} {
		if err := s.Kill(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "both killed", func() bool {
		return has("run-0", mesospb.TaskState_TASK_KILLED) && has("run-1", mesospb.TaskState_TASK_KILLED)
	})
	waitFor(t, 30*time.Second, "every image root unmounted and removed", func() bool {
		entries, _ := os.ReadDir(filepath.Join(store, "rootfs", "overlay"))
		return len(mountsUnder(t, store)) == 0 && len(entries) == 0
	})
	for _, id := range []string{"run-0", "run-1", "end-0"} {
		terminal := 0
		for _, st := range states(id) {
			if mesospb.IsTerminal(st) {
				terminal++
			}
		}
		if terminal != 1 {
			t.Errorf("%s got %v, want one terminal state", id, states(id))
		}
	}
}

// imageTasks lists the processes named comm of tasks whose sandbox
// (MESOS_DIRECTORY: the host's path; their cwd and root are the image's)
// is under root, sorted.
func imageTasks(root, comm string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains(string(env), "\x00MESOS_DIRECTORY="+root+"/") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(b)) == comm && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	points, err := rootfs.MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p := range points {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// killImageTasks ends what a failed test left: the task processes of
// sandboxes under root, then the mounts there, so that the temporary
// directory can go.
func killImageTasks(t *testing.T, root string) {
	for _, pid := range imageTasks(root, "sleep") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, 10*time.Second, "leftover image tasks to exit", func() bool { return len(imageTasks(root, "sleep")) == 0 })
	for _, m := range mountsUnder(t, root) {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}
