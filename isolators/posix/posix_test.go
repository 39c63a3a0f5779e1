package posix

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/isolators"
)

func TestUsageCoversTheProcessGroup(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 5 & sleep 5 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	c := &isolators.Container{Pid: cmd.Process.Pid}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := NewMem().Usage(context.Background(), c)
		if err == nil && u.Processes == 3 && u.MemoryBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %+v (%v): want the shell and its two children", u, err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the children to start
	}
	if u, err := NewCPU().Usage(context.Background(), c); err != nil || u.MemoryBytes != 0 || u.Processes != 0 {
		t.Fatalf("posix/cpu reports %+v (%v): only cpu time is its to report", u, err)
	}
	if _, err := NewMem().Usage(context.Background(), &isolators.Container{Pid: 1 << 30}); err == nil {
		t.Fatal("usage of a missing process succeeded")
	}
}
