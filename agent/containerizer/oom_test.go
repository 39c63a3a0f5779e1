package containerizer

import (
	"os"
	"path/filepath"
	"testing"
)

// The OOM decision on both cgroup versions, against fake cgroup files:
// this machine's kernel runs v1, so v2 is tested here and not for real.
func TestOOMDecision(t *testing.T) {
	const v1Calm = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
	const v1Killed = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"
	const v2Calm = "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\noom_group_kill 0\n"
	const v2Killed = "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n"
	fired := func() <-chan struct{} { ch := make(chan struct{}, 1); ch <- struct{}{}; return ch }
	closed := func() <-chan struct{} { ch := make(chan struct{}); close(ch); return ch }
	quiet := func() <-chan struct{} { return make(chan struct{}) }
	for _, c := range []struct {
		name   string
		v2     bool
		notice func() <-chan struct{}
		file   string // memory.oom_control (v1) or memory.events (v2); "" for none
		want   bool
	}{
		{"v1: notified", false, fired, v1Calm, true},
		{"v1: counted, the notice trailing the exit", false, quiet, v1Killed, true},
		{"v1: a normal exit", false, quiet, v1Calm, false},
		{"v1: no notification channel, counted", false, nil, v1Killed, true},
		{"v2: the channel closed as the cgroup emptied: a normal exit", true, closed, v2Calm, false},
		{"v2: the channel closed, but memory.events counts a kill", true, closed, v2Killed, true},
		{"v2: notified", true, fired, v2Calm, true},
		{"v2: nothing yet on the channel, counted", true, quiet, v2Killed, true},
		{"v2: a normal exit", true, quiet, v2Calm, false},
		{"v2: the cgroup is gone", true, closed, "", false},
		// v1 reads memory.oom_control, never v2's file: a v2-shaped tree
		// under a v1 decision counts nothing.
		{"v1 decision, only memory.events present", false, quiet, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.file != "" {
				name := "memory.oom_control"
				if c.v2 {
					name = "memory.events"
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(c.file), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if !c.v2 {
				_ = os.WriteFile(filepath.Join(dir, "memory.events"), []byte(v2Killed), 0o644)
			}
			var notice <-chan struct{}
			if c.notice != nil {
				notice = c.notice()
			}
			if got := oomKilled(notice, c.v2, dir); got != c.want {
				t.Fatalf("oomKilled = %v, want %v", got, c.want)
			}
		})
	}
}
