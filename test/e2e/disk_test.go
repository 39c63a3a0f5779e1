package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func TestDiskQuotaMetricsAndSandboxGC(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Agent: func(_ int, cfg *agent.Config) {
		cfg.DiskWatchInterval, cfg.EnforceDiskQuota, cfg.GCDelay = 50*time.Millisecond, true, 300*time.Millisecond
	}})
	f := startHealthFramework(t, c.MasterAddr)
	withDisk := func(id, cmd string, disk float64) {
		f.tasks <- func(o *mesospb.Offer) *mesospb.TaskInfo {
			res, _ := sdk.NewSpace(o).Take(0.1, 16, disk, 0)
			return sdk.CommandTask(id, id, o, cmd, res)
		}
	}
	// A task that stays within its disk is measured and left alone.
	withDisk("small", "head -c 100000 /dev/urandom > blob; sleep 60", 1)
	f.expect(t, "small", "TASK_RUNNING", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_RUNNING })
	waitFor(t, 30*time.Second, "the agent to report the sandbox's disk", func() bool {
		resp, err := http.Get("http://" + c.Agents[0].Addr() + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "corral_agent_container_disk_bytes{") && strings.Contains(line, `task="small"`) {
				return !strings.HasSuffix(line, " 0")
			}
		}
		return false
	})

	// One that writes past its disk is killed for it.
	withDisk("big", "head -c 3000000 /dev/urandom > blob; sleep 60", 1)
	st := f.expect(t, "big", "a terminal update", func(st *mesospb.TaskStatus) bool { return mesospb.IsTerminal(st.GetState()) })
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK ||
		resources.Resources(st.GetLimitation().GetResources()).ScalarValue("disk") != 1 || !strings.Contains(st.GetMessage(), "Disk quota") {
		t.Fatalf("big: %s (limitation %v); want TASK_FAILED over its 1 MiB disk", sdk.Describe(st), st.GetLimitation())
	}

	// A finished task's sandbox is garbage-collected after the delay.
	withDisk("done", "echo bye", 1)
	f.expect(t, "done", "TASK_FINISHED", func(st *mesospb.TaskStatus) bool { return st.GetState() == mesospb.TaskState_TASK_FINISHED })
	runs, _ := filepath.Glob(filepath.Join(c.Agents[0].WorkDir(), "agents", "*", "frameworks", "*", "executors", "done", "runs", "*-*"))
	if len(runs) != 1 {
		t.Fatalf("sandboxes of the finished task: %v", runs)
	}
	waitFor(t, 30*time.Second, "the finished task's sandbox to be collected", func() bool {
		_, err := os.Stat(runs[0])
		return os.IsNotExist(err)
	})
}
