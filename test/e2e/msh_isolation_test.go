package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

// An agent run with isolators spelled out, Mesos' way
// (cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux), runs msh's
// command in a PID namespace of its own under a memory limit of msh's
// -memory.
func TestMeshGoMshRunsIsolated(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs linux isolation: %s", why)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	cgroupRoot := fmt.Sprintf("/corral-e2e-msh-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: dir, Agent: func(_ int, cfg *agent.Config) {
		cfg.Isolation, cfg.CgroupsRoot = "cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux", cgroupRoot
	}})
	// The command records its PID and its memory cgroup's limit as the
	// kernel shows them from inside (the cgroup path, then its limit read
	// on the host once the command has printed it, while it still runs).
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out = runMshWith(t, c.MasterAddr, []string{"-memory", "48"}, "/bin/sh", "-c",
			`echo "pidns $(readlink /proc/self/ns/pid)"; grep -m1 memory /proc/self/cgroup; sleep 2`)
	}()
	stdoutOf := func() string {
		files, _ := filepath.Glob(filepath.Join(dir, "agent-0", "agents", "*", "frameworks", "*", "executors", "*", "runs", "latest", "stdout"))
		if len(files) != 1 {
			return ""
		}
		b, _ := os.ReadFile(files[0])
		return string(b)
	}
	var limit int64
	waitFor(t, 60*time.Second, "the task's memory cgroup and its limit", func() bool {
		for _, line := range strings.Split(stdoutOf(), "\n") {
			// e.g. "9:memory:/corral-e2e-msh-1/<container>"
			if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] == "memory" {
				b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"))
				if err == nil {
					limit, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
					return true
				}
			}
		}
		return false
	})
	<-done
	if code != 0 || !strings.Contains(out, "TASK_FINISHED") {
		t.Fatalf("msh exited %d:\n%s", code, out)
	}
	host, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdoutOf(), "pidns pid:[") || strings.Contains(stdoutOf(), "pidns "+host+"\n") {
		t.Fatalf("the command does not run in a PID namespace of its own (the host's is %s): %q", host, stdoutOf())
	}
	if limit != 48<<20 {
		t.Fatalf("memory limit %d bytes, want msh's -memory 48 MiB", limit)
	}
}
