//go:build linux && cgo

package containerizer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		Init() // this test binary, re-executed as a container's init
	}
	os.Exit(m.Run())
}

// linuxIsolation is the linux set spelled out, as an operator would.
const linuxIsolation = "cgroups/cpu,cgroups/mem,cgroups/pids,namespaces/pid,namespaces/ipc,namespaces/uts,filesystem/linux"

func linuxLauncher(t *testing.T) *Containerizer {
	t.Helper()
	if why := LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("linux isolation tests need it: %s", why)
		}
		t.Skip(why)
	}
	t.Cleanup(func() {
		// Containers remove their own cgroups; the parent is the test's.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/corral-test")
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	return newContainerizer(t, linuxIsolation, func(c *Config) { c.CgroupsRoot, c.CFS, c.PidsLimit = "/corral-test", true, 32 })
}

func sandbox(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func waitExit(t *testing.T, p *Process) Exit {
	t.Helper()
	select {
	case <-p.Done():
		return p.Exit()
	case <-time.After(30 * time.Second):
		t.Fatal("container did not exit within 30s")
		return Exit{}
	}
}

func run(t *testing.T, c *Containerizer, spec Spec) (Exit, string) {
	t.Helper()
	p, err := c.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	exit := waitExit(t, p)
	out, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
	return exit, string(out)
}

func TestContainerHasItsOwnPIDsAndHostname(t *testing.T) {
	l := linuxLauncher(t)
	dir := sandbox(t)
	exit, out := run(t, l, Spec{ID: "ns-test", Shell: true, Value: `echo "$(hostname) $$ $(pwd)"; ls /proc | grep -c '^[0-9]'`,
		Sandbox: dir, Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.5, MemBytes: 64 << 20},
		Info: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("db-1")}})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if exit.Code != 0 || len(lines) != 2 || lines[0] != "db-1 1 "+dir {
		t.Fatalf("exit %v, stdout %q: want hostname db-1, PID 1, cwd the sandbox", exit, out)
	}
	if n, _ := strconv.Atoi(lines[1]); n > 3 {
		t.Fatalf("the container sees %d processes; its PID namespace should hold only its own", n)
	}
}

func TestMemoryLimitIsAnOOMLimitation(t *testing.T) {
	l := linuxLauncher(t)
	exit, _ := run(t, l, Spec{ID: "oom-test", Shell: true, Value: "head -c 300m /dev/zero | tail",
		Sandbox: sandbox(t), Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.5, MemBytes: 64 << 20}})
	if exit.Limitation == nil || exit.Limitation.Reason != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY || !strings.Contains(exit.String(), "Memory limit") {
		t.Fatalf("exit %+v (%s), want an OOM kill reported as a memory limitation", exit, exit)
	}
}

func TestPidsLimitStopsAForkBomb(t *testing.T) {
	l := linuxLauncher(t)
	dir := sandbox(t)
	exit, _ := run(t, l, Spec{ID: "pids-test", Shell: true, Value: "for i in $(seq 200); do sleep 30 & done; wait",
		Sandbox: dir, Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.5, MemBytes: 128 << 20}})
	stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if exit.Code == 0 || !strings.Contains(string(stderr), "fork") {
		t.Fatalf("exit %v, stderr %q: want the shell stopped by failing forks", exit, stderr)
	}
	// Nothing of the container is left behind.
	if _, err := os.Stat("/sys/fs/cgroup/pids/corral-test/pids-test"); !os.IsNotExist(err) {
		t.Fatalf("the container's pids cgroup is still there (%v)", err)
	}
}

func TestCFSQuotaThrottles(t *testing.T) {
	l := linuxLauncher(t)
	p, err := l.Launch(context.Background(), Spec{ID: "cfs-test", Shell: true, Value: "while :; do :; done",
		Sandbox: sandbox(t), Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.2, MemBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Kill(context.Background(), 0); waitExit(t, p) }()
	dir := cgroupDir(t, "cpu", "/corral-test/cfs-test")
	stat := filepath.Join(dir, "cpu.stat")
	if got := cfsQuota(t, dir); got != 20000 {
		t.Fatalf("CFS quota %d µs per 100 ms, want 20000 for 0.2 cpus", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(stat)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "nr_throttled "); ok {
				if n, _ := strconv.Atoi(v); n > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("a busy loop limited to 0.2 cpus was never throttled: %s", b)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func TestVolumesAreMountedWithTheirMode(t *testing.T) {
	l := linuxLauncher(t)
	dir := sandbox(t)
	rw, ro := t.TempDir(), t.TempDir()
	_ = os.WriteFile(filepath.Join(ro, "config"), []byte("read me"), 0o644)
	exit, out := run(t, l, Spec{ID: "vol-test", Shell: true,
		Value:   "echo kept > data/file && cat conf/config && (echo no > conf/x 2>/dev/null && echo WROTE || echo refused)",
		Sandbox: dir, Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.5, MemBytes: 64 << 20},
		Volumes: []isolators.Volume{{Source: rw, Target: "data", Kind: isolators.PersistentVolume},
			{Source: ro, Target: "conf", ReadOnly: true, Kind: isolators.PersistentVolume}}})
	if exit.Code != 0 || !strings.Contains(out, "read me") || !strings.Contains(out, "refused") {
		t.Fatalf("exit %v, stdout %q", exit, out)
	}
	if b, err := os.ReadFile(filepath.Join(rw, "file")); err != nil || string(b) != "kept\n" {
		t.Fatalf("the volume on the host holds %q (%v)", b, err)
	}
}

// BenchmarkLinuxLaunch times Launch (create, start, exec) of a container
// running `true`, with and without the exit-status wrapper.
func BenchmarkLinuxLaunch(b *testing.B) {
	if why := LinuxAvailable(); why != "" {
		b.Skip(why)
	}
	for _, wrapped := range []bool{false, true} {
		b.Run(fmt.Sprintf("wrapper=%v", wrapped), func(b *testing.B) {
			c := newContainerizer(b, linuxIsolation, func(c *Config) { c.CgroupsRoot = "/corral-bench" })
			i := 0
			for b.Loop() {
				dir := b.TempDir()
				spec := Spec{ID: fmt.Sprintf("bench-%d-%v", i, wrapped), Shell: true, Value: "true", Sandbox: dir,
					Env: []string{"PATH=/usr/bin:/bin"}, Limits: isolators.Limits{CPUs: 0.1, MemBytes: 64 << 20}}
				if wrapped {
					spec.ExitFile = filepath.Join(dir, ".exit")
				}
				i++
				p, err := c.Launch(context.Background(), spec)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				<-p.Done()
				b.StartTimer()
			}
		})
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/corral-bench")
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

// cgroupDir is where a container's cgroup of controller lives: under the
// controller's v1 mount, or in the one v2 hierarchy.
func cgroupDir(t *testing.T, controller, path string) string {
	t.Helper()
	if cgroups.IsCgroup2UnifiedMode() {
		return filepath.Join("/sys/fs/cgroup", path)
	}
	mnt, err := cgroups.FindCgroupMountpoint("", controller)
	if err != nil {
		t.Fatalf("no %s cgroup mounted: %v", controller, err)
	}
	return filepath.Join(mnt, path)
}

// cfsQuota reads a cgroup's CFS quota in µs: cpu.cfs_quota_us on v1,
// the first field of cpu.max on v2.
func cfsQuota(t *testing.T, dir string) int64 {
	t.Helper()
	file := "cpu.cfs_quota_us"
	if cgroups.IsCgroup2UnifiedMode() {
		file = "cpu.max"
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(b) + " x")[0], 10, 64)
	if err != nil {
		t.Fatalf("%s holds %q: %v", file, b, err)
	}
	return n
}

// Without namespaces/pid a task shares the host's PID namespace: its
// shell is not PID 1 but the pid the agent knows. With it (and only
// filesystem/linux besides), it is PID 1.
func TestPIDNamespaceOnlyWithItsIsolator(t *testing.T) {
	linuxLauncher(t) // skips (or fails in CI) where linux isolation cannot run
	for _, c := range []struct {
		isolation string
		own       bool
	}{{"posix/cpu,posix/mem", false}, {"namespaces/pid,filesystem/linux", true}} {
		cz := newContainerizer(t, c.isolation)
		dir := sandbox(t)
		p, err := cz.Launch(context.Background(), Spec{ID: "pidns-" + strconv.FormatBool(c.own), Shell: true, Value: "echo $$",
			Sandbox: dir, Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			t.Fatal(err)
		}
		waitExit(t, p)
		out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		if c.own && pid != 1 || !c.own && pid != p.Pid {
			t.Fatalf("%s: the shell is pid %d (host pid %d); a PID namespace of its own: %v", c.isolation, pid, p.Pid, c.own)
		}
	}
}
