package isolators

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestPosixUsageCoversTheProcessGroup(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 5 & sleep 5 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	isos, err := New("posix")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := isos[0].Usage(context.Background(), Container{Pid: cmd.Process.Pid})
		if err == nil && u.Processes == 3 && u.MemoryBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %+v (%v): want the shell and its two children", u, err)
		}
		time.Sleep(10 * time.Millisecond) // polling for the children to start
	}
	if _, err := New("nonsense"); err == nil {
		t.Fatal("an unknown isolator was accepted")
	}
	if _, err := isos[0].Usage(context.Background(), Container{Pid: 1 << 30}); err == nil {
		t.Fatal("usage of a missing process succeeded")
	}
}
