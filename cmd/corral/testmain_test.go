package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // this test binary, re-executed as a linux container's init
	}
	os.Exit(m.Run())
}

// CORRAL_CPUPROFILE and CORRAL_MEMPROFILE are how corral-bench profiles
// the masters it runs as processes: both files are written when the
// command returns, and a path that cannot be written is named.
func TestProfilesFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu"), filepath.Join(dir, "mem")
	stop, err := startProfiles(cpu, mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cpu, mem} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v, want a non-empty file", f, err)
		}
	}
	if _, err := startProfiles(filepath.Join(dir, "no", "such", "dir"), ""); err == nil || !strings.Contains(err.Error(), "CORRAL_CPUPROFILE") {
		t.Errorf("an unwritable CPU profile: %v, want an error naming CORRAL_CPUPROFILE", err)
	}
	stop, _ = startProfiles("", filepath.Join(dir, "no", "such", "dir"))
	if err := stop(); err == nil || !strings.Contains(err.Error(), "CORRAL_MEMPROFILE") {
		t.Errorf("an unwritable heap profile: %v, want an error naming CORRAL_MEMPROFILE", err)
	}
	stop, _ = startProfiles("", "")
	if err := stop(); err != nil {
		t.Errorf("no profiles: %v", err)
	}
}
