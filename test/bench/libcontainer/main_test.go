//go:build linux && cgo

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/opencontainers/runc/libcontainer"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init() // this test binary, re-executed as a container's init
	}
	os.Exit(m.Run())
}

func TestFloorStartsEveryContainerAndLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root; CI runs as root")
		}
		t.Skip("containers need root")
	}
	dir := t.TempDir()
	r, err := run(3, 2, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Containers != 3 || r.Seconds <= 0 || r.PerSecond <= 0 || r.BinaryMB <= 0 {
		t.Fatalf("result %+v, want 3 containers timed", r)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("%s holds %v (%v) after the run", dir, entries, err)
	}
	// Destroy removes a cgroup only once every process in it is gone.
	left, _ := filepath.Glob("/sys/fs/cgroup/*/corral-libcontainer-" + strconv.Itoa(os.Getpid()) + "-*")
	direct, _ := filepath.Glob("/sys/fs/cgroup/corral-libcontainer-" + strconv.Itoa(os.Getpid()) + "-*")
	if len(left)+len(direct) > 0 {
		t.Fatalf("cgroups left: %v %v", left, direct)
	}
	if _, err := run(0, 1, dir); err == nil {
		t.Fatal("no containers: want an error")
	}
}
