package containerizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomKilled decides whether the kernel's OOM killer struck inside a
// container whose memory cgroup is dir, from runc's notification channel
// and the cgroup's own count (the notification can trail the exit).
//
// The channel means different things on the two cgroup versions: on v1 it
// is an eventfd that fires only on an OOM; on v2 runc closes it when the
// cgroup empties, which every exit does, so only a value received (not a
// close) counts. The count is memory.oom_control's oom_kill on v1 and
// memory.events' oom_kill on v2.
func oomKilled(notice <-chan struct{}, v2 bool, dir string) bool {
	if notice != nil {
		select {
		case _, open := <-notice:
			if open || !v2 {
				return true
			}
		default:
		}
	}
	if dir == "" {
		return false
	}
	file := "memory.oom_control"
	if v2 {
		file = "memory.events"
	}
	n, ok := cgroupKey(filepath.Join(dir, file), "oom_kill")
	return ok && n > 0
}

// cgroupKey reads one "key value" line of a cgroup file such as
// memory.events or cpu.stat.
func cgroupKey(path, key string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
