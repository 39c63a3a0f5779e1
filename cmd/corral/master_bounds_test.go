package main

import (
	"strings"
	"testing"

	"github.com/corral-sched/corral/master"
)

func TestMasterBoundsFlags(t *testing.T) {
	cmd := newMasterCommand()
	_ = cmd.Flags().Parse(nil)
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := masterConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxCompletedFrameworks != master.DefaultMaxCompletedFrameworks ||
		cfg.MaxUnreachableTasksPerFramework != master.DefaultMaxUnreachableTasksPerFramework {
		t.Fatalf("defaults: %d completed frameworks, %d unreachable tasks", cfg.MaxCompletedFrameworks, cfg.MaxUnreachableTasksPerFramework)
	}
	cmd = newMasterCommand()
	_ = cmd.Flags().Parse([]string{"--max-completed-frameworks", "7"})
	s, _ = loadSettings(cmd)
	if cfg, err = masterConfig(s); err != nil || cfg.MaxCompletedFrameworks != 7 {
		t.Fatalf("--max-completed-frameworks 7: %d, %v", cfg.MaxCompletedFrameworks, err)
	}
	// The master would read 0 as its default: on the command line it is a
	// mistake, said so.
	for _, flag := range []string{"--max-completed-frameworks", "--max-unreachable-tasks-per-framework"} {
		cmd = newMasterCommand()
		_ = cmd.Flags().Parse([]string{flag, "0"})
		s, _ = loadSettings(cmd)
		if _, err := masterConfig(s); err == nil || !strings.Contains(err.Error(), flag+" must be at least 1") {
			t.Errorf("%s 0: err = %v", flag, err)
		}
	}
}
