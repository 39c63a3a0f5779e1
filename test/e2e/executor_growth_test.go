package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A custom executor's container holds its tasks too: its limits are the
// executor's resources and its live tasks', updated as tasks start and
// end (Mesos' update). A task needing more memory than the executor's
// own therefore runs to completion instead of being OOM-killed at the
// executor's size, and the container shrinks back once it ends.
func TestExecutorContainerGrowsWithItsTasks(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the executor growth test needs linux isolation: %s", why)
		}
		t.Skip(why)
	}
	bin := filepath.Join(t.TempDir(), "executor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/examples/executor").CombinedOutput(); err != nil {
		t.Fatalf("building the example executor: %v\n%s", err, out)
	}
	cgroupRoot := fmt.Sprintf("/corral-e2e-grow-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Agent: func(_ int, cfg *agent.Config) {
		cfg.Isolation, cfg.CgroupsRoot = "linux", cgroupRoot
	}})
	f := startExecFramework(t, c, &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("grow")})
	o := f.offer(t)
	space := sdk.NewSpace(o)
	const exMem, taskMem = 32, 128
	res, _ := space.Take(0.2, taskMem, 0, 0)
	exRes, _ := space.Take(0.1, exMem, 0, 0)
	// 64 MiB held in memory, then a pause in which the test reads the
	// limit: well over the executor's own 32 MiB.
	task := &mesospb.TaskInfo{Name: proto.String("big"), TaskId: &mesospb.TaskID{Value: proto.String("big")}, AgentId: o.GetAgentId(),
		Resources: res, Data: []byte("head -c 64m /dev/zero | (sleep 3; tail -c 1 >/dev/null)"),
		Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: &mesospb.ExecutorID{Value: proto.String("grow-ex")},
			Resources: exRes, Command: &mesospb.CommandInfo{Value: proto.String("./executor"),
				Uris: []*mesospb.CommandInfo_URI{{Value: proto.String("file://" + bin), Executable: proto.Bool(true)}}}}}
	if err := f.s.Launch(t.Context(), o, 0, task); err != nil {
		t.Fatal(err)
	}
	limit := func() int64 {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/memory" + cgroupRoot + "/*/memory.limit_in_bytes")
		if len(dirs) != 1 {
			return -1
		}
		b, err := os.ReadFile(dirs[0])
		if err != nil {
			return -1
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	var final *mesospb.TaskStatus
	waitFor(t, 60*time.Second, "the executor's container to be sized for the executor and its task", func() bool {
		select {
		case st := <-f.updates:
			if mesospb.IsTerminal(st.GetState()) {
				t.Fatalf("the task ended before its executor's container grew: %s", sdk.Describe(st))
			}
		default:
		}
		return limit() == (exMem+taskMem)<<20
	})
	deadline := time.After(60 * time.Second)
	for final == nil {
		select {
		case st := <-f.updates:
			if mesospb.IsTerminal(st.GetState()) {
				final = st
			}
		case <-deadline:
			t.Fatal("the task did not end within 60s")
		}
	}
	if final.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("the task ended %s: want it finished, not killed at the executor's size", sdk.Describe(final))
	}
	waitFor(t, 30*time.Second, "the executor's container to shrink back to the executor's own size", func() bool {
		return limit() == exMem<<20
	})
}
