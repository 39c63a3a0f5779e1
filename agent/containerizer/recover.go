package containerizer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A task's exit status must outlive the agent: when the agent restarts,
// its tasks are no longer its children and their statuses would be lost.
// So with Spec.ExitFile set, the task runs under a small shell that
// ignores the polite signals itself, runs the command with default signal
// handling, and writes the command's status to ExitFile when it ends.

const wrapper = `trap "" TERM INT HUP; ( trap - TERM INT HUP; exec "$@" ); s=$?; echo $s > "$0"; exit $s`

// wrap returns the argv running argv under the exit-status wrapper.
func wrap(exitFile string, argv []string) []string {
	return append([]string{"/bin/sh", "-c", wrapper, exitFile}, argv...)
}

// exitFromFile reads a status the wrapper wrote. Shell convention: above
// 128 is death by signal.
func exitFromFile(path string) (Exit, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Exit{}, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return Exit{}, false
	}
	if code > 128 && code < 128+65 {
		return Exit{Code: -1, Signal: syscall.Signal(code - 128)}, true
	}
	return Exit{Code: code}, true
}

// ExitStatus reads the status a task's wrapper left in exitFile, for a
// task that ended while nobody watched.
func ExitStatus(exitFile string) (Exit, bool) { return exitFromFile(exitFile) }

// StartTime returns a process's start time (clock ticks since boot), which
// tells a process from a later one that reused its pid.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command may contain spaces and parentheses: fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("containerizer: unreadable /proc stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, errors.New("containerizer: short /proc stat")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// ErrGone means a recovered task's process is no longer there.
var ErrGone = errors.New("containerizer: the process is gone")

// adopt watches a process that is not our child (a task from before an
// agent restart) until it exits, and takes its status from its exit file.
func adopt(pid int, startTime uint64, exitFile string, signal func(syscall.Signal) error, cleanup func()) (*Process, error) {
	if st, err := StartTime(pid); err != nil || st != startTime {
		return nil, ErrGone
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("containerizer: watching pid %d: %w", pid, err)
	}
	// The pid could have been reused between the check and the open.
	if st, err := StartTime(pid); err != nil || st != startTime {
		unix.Close(fd)
		return nil, ErrGone
	}
	p := &Process{Pid: pid, done: make(chan struct{}), signal: signal}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		exit, ok := exitFromFile(exitFile)
		if !ok {
			exit = Exit{Code: -1, Err: errors.New("the task ended without leaving its exit status")}
		}
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		if cleanup != nil {
			cleanup()
		}
		p.exit = exit
		close(p.done)
	}()
	return p, nil
}
