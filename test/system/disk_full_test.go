package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/cplog"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// An agent whose work dir is full must not start a task it cannot
// checkpoint, and a restart (kill -9) must find its running containers even
// where a checkpoint could not record their processes: before, such a task
// was reported TASK_LOST while it ran on, its framework started a second
// copy, and nobody could kill the first.
func TestFullDiskNeitherLeaksNorLosesTasks(t *testing.T) {
	for _, isolation := range []string{"posix", "linux"} {
		t.Run(isolation, func(t *testing.T) {
			if os.Geteuid() != 0 {
				if os.Getenv("CI") == "true" {
					t.Fatal("the full-disk test mounts a tmpfs: it needs root")
				}
				t.Skip("the full-disk test mounts a tmpfs: it needs root")
			}
			if isolation == "linux" {
				if why := containerizer.LinuxAvailable(); why != "" {
					if os.Getenv("CI") == "true" {
						t.Fatalf("linux isolation tests need it: %s", why)
					}
					t.Skipf("linux isolation unavailable: %s", why)
				}
			}
			testFullDisk(t, isolation)
		})
	}
}

func testFullDisk(t *testing.T, isolation string) {
	root := t.TempDir()
	work := filepath.Join(root, "agent")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", work).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs work dir: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", work).CombinedOutput(); err != nil {
			t.Errorf("unmounting the tmpfs: %v: %s", err, out)
		}
	})
	cgroupRoot := fmt.Sprintf("corral-diskfull-%d", time.Now().UnixNano())
	t.Cleanup(func() { removeCgroups(cgroupRoot) })
	t.Cleanup(func() { killSandboxTasks(root) })

	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	agent := startProc(t, "agent", "agent", "--listen", freeAddr(t), "--master", addr, "--work-dir", work,
		"--isolation", isolation, "--cgroups-root", "/"+cgroupRoot, "--resources", "cpus:4;mem:2048",
		"--executor-shutdown-grace-period", "200ms")

	var mu sync.Mutex
	updates := map[string][]*mesospb.TaskStatus{}
	pending := make(chan *mesospb.TaskInfo, 10)
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: addr, Logger: testLogger(),
		Framework: &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("disk-full"), FailoverTimeout: proto.Float64(3600)}},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				select {
				case ti := <-pending:
					res, _ := sdk.NewSpace(o).Take(0.1, 32, 0, 0)
					ti.AgentId, ti.Resources = o.GetAgentId(), res
					if err := s.Launch(ctx, o, 0.1, ti); err != nil {
						return err
					}
				default:
					if err := s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0.1); err != nil {
						return err
					}
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

	launch := func(id, cmd string, labels ...*mesospb.Label) {
		pending <- &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			Command: &mesospb.CommandInfo{Value: proto.String(cmd)}, Labels: &mesospb.Labels{Labels: labels}}
	}
	last := func(id string) *mesospb.TaskStatus {
		mu.Lock()
		defer mu.Unlock()
		if u := updates[id]; len(u) > 0 {
			return u[len(u)-1]
		}
		return nil
	}
	states := func(id string) []mesospb.TaskState {
		mu.Lock()
		defer mu.Unlock()
		var out []mesospb.TaskState
		for _, st := range updates[id] {
			out = append(out, st.GetState())
		}
		return out
	}
	procs := func(arg string) []int { return withArgs(sandboxTasks(work, "sleep"), arg) }

	// Two tasks run; then the disk fills up.
	launch("keep", "sleep 301")
	launch("orphan", "sleep 303")
	waitFor(t, 60*time.Second, "both tasks running with their processes", func() bool {
		return last("keep").GetState() == mesospb.TaskState_TASK_RUNNING && last("orphan").GetState() == mesospb.TaskState_TASK_RUNNING &&
			len(procs("301")) == 1 && len(procs("303")) == 1
	})
	keepPid, orphanPid := procs("301")[0], procs("303")[0]
	fill(t, filepath.Join(work, "filler"))

	// A launch on the full disk fails, naming the disk, and starts nothing.
	// Its checkpoint is larger than the room a block of the checkpoint
	// log may have left: appending it needs a block the disk lacks.
	var big []*mesospb.Label
	for i := range 4 {
		big = append(big, &mesospb.Label{Key: proto.String(fmt.Sprint("pad", i)), Value: proto.String(strings.Repeat("x", 4096))})
	}
	launch("full", "sleep 302", big...)
	waitFor(t, 60*time.Second, "the launch on the full disk to fail", func() bool { return mesospb.IsTerminal(last("full").GetState()) })
	if st := last("full"); st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), "no space left on device") {
		t.Fatalf("launch on a full disk: %s; want TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED naming the full disk", sdk.Describe(st))
	}
	if p := procs("302"); len(p) != 0 {
		t.Fatalf("the task that failed to launch runs anyway: pids %v", p)
	}

	// The agent dies. Its checkpoints are then made to say what a full
	// disk leaves behind: keep's checkpoint never learned its process (its
	// RUNNING could not be written), and orphan's is gone altogether.
	agent.kill9()
	// Editing the agent's checkpoint log appends to it: room is made for
	// that, then taken again.
	filler := filepath.Join(work, "filler")
	if err := os.Truncate(filler, 0); err != nil {
		t.Fatal(err)
	}
	fw := url.PathEscape(s.FrameworkID())
	editCheckpoints(t, filepath.Join(work, "meta", "tasklog"), func(records map[string][]byte, l *cplog.Log) error {
		if err := l.Put(fw+"/keep", forgetProcess(t, records[fw+"/keep"])); err != nil {
			return err
		}
		if records[fw+"/orphan"] == nil {
			t.Fatalf("the log holds no checkpoint of orphan: %v", slices.Collect(maps.Keys(records)))
		}
		return l.Delete(fw + "/orphan")
	})
	fill(t, filler)
	keepBefore := len(states("keep"))
	agent.start() // on the disk that is still full

	// keep is found by its container and is running, never lost;
	// orphan, which nothing names any more, is killed.
	waitFor(t, 60*time.Second, "the orphan to be killed", func() bool { return len(procs("303")) == 0 })
	if err := s.Reconcile(ctx, &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String("keep")}}); err != nil {
		t.Fatal(err)
	}
	// From the agent (as the task's executor), not the master's answer to the
	// reconciliation: a kill sent before the agent is back is answered
	// TASK_UNREACHABLE and not retried.
	waitFor(t, 60*time.Second, "the restarted agent to report keep running", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, st := range updates["keep"][keepBefore:] {
			if st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER && st.GetState() == mesospb.TaskState_TASK_RUNNING {
				return true
			}
		}
		return false
	})
	for _, st := range states("keep") {
		if mesospb.IsTerminal(st) {
			t.Fatalf("keep, still running as pid %d, was reported %v: %v", keepPid, st, states("keep"))
		}
	}
	if p := procs("301"); len(p) != 1 || p[0] != keepPid {
		t.Fatalf("keep's process: %v, want still %d", p, keepPid)
	}
	if syscall.Kill(orphanPid, 0) == nil && !zombie(orphanPid) {
		t.Fatalf("the orphan's process %d survived", orphanPid)
	}

	// The recovered agent still controls it.
	if err := s.Kill(ctx, "keep", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "keep killed", func() bool { return last("keep").GetState() == mesospb.TaskState_TASK_KILLED })
	waitFor(t, 30*time.Second, "keep's process to be gone", func() bool { return len(procs("301")) == 0 })
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("filling the disk: %v", err)
		}
	}
}

// editCheckpoints opens an agent's checkpoint log (the agent is down),
// lets edit change it and closes it. Records are keyed
// "<escaped framework ID>/<escaped task ID>".
func editCheckpoints(t *testing.T, dir string, edit func(map[string][]byte, *cplog.Log) error) {
	t.Helper()
	l, records, err := cplog.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := edit(records, l); err != nil {
		t.Fatalf("editing the checkpoint log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// forgetProcess rewrites a task checkpoint as a launch leaves it when the
// write after the container started failed: the container and sandbox
// are known, the process and the RUNNING state are not.
func forgetProcess(t *testing.T, b []byte) []byte {
	t.Helper()
	var cp map[string]any
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatalf("checkpoint %q: %v", b, err)
	}
	if cp["container_id"] == nil || cp["pid"] == nil {
		t.Fatalf("the checkpoint lacks the container or the process the test rewrites: %s", b)
	}
	delete(cp, "pid")
	delete(cp, "start_time")
	cp["state"] = int(mesospb.TaskState_TASK_STARTING)
	out, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
