package containerizer

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// findProcessGroups finds the posix containers (process groups) whose
// leader carries MESOS_CONTAINER_ID and a MESOS_SANDBOX under
// sandboxRoot, by container ID. It reads /proc: every task's environment
// says which container it is, so recovery can tell tasks from processes
// that are not the agent's. When several leaders claim one ID (a task can
// start a process group of its own with any environment), the oldest is
// the container's.
func findProcessGroups(sandboxRoot string) map[string]Running {
	found := make(map[string]Running)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return found
	}
	prefix := []byte("MESOS_SANDBOX=" + filepath.Clean(sandboxRoot) + "/")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pgid, start, ok := procGroup(pid)
		if !ok || pgid != pid {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		var id string
		ours := false
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, prefix) {
				ours = true
			} else if v, ok := bytes.CutPrefix(kv, []byte("MESOS_CONTAINER_ID=")); ok {
				id = string(v)
			}
		}
		if !ours || id == "" {
			continue
		}
		if prev, ok := found[id]; ok && prev.StartTime <= start {
			continue
		}
		found[id] = Running{Pid: pid, StartTime: start}
	}
	return found
}

// procGroup reads a process's group ID and start time from /proc.
func procGroup(pid int) (pgid int, start uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	// After the command: state ppid pgrp session ... starttime (the 20th).
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 || fields[0] == "Z" {
		return 0, 0, false
	}
	pgid, err1 := strconv.Atoi(fields[2])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	return pgid, start, err1 == nil && err2 == nil
}
