package containerizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/corral-sched/corral/isolators"
)

// A task's exit status must outlive the agent: when the agent restarts,
// its tasks are no longer its children and their statuses would be lost.
// So with Spec.ExitFile set, the task runs under a small shell that
// ignores the polite signals itself, runs the command with default signal
// handling, and writes the command's status to ExitFile when it ends.

const wrapper = `trap "" TERM INT HUP; ( trap - TERM INT HUP; exec "$@" ); s=$?; echo $s > "$0"; exit $s`

// wrap returns the argv running argv under the exit-status wrapper, with
// shell (the argv that runs a shell in the container; nil for /bin/sh).
func wrap(shell []string, exitFile string, argv []string) []string {
	if len(shell) == 0 {
		shell = []string{"/bin/sh"}
		if len(argv) == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" {
			if words, ok := plainCommand(argv[2]); ok {
				argv = words // see plain_command.go
			}
		}
	}
	out := append(slices.Clone(shell), "-c", wrapper, exitFile)
	return append(out, argv...)
}

// inContainer is the path a container sees for path, a file of its
// sandbox, when the sandbox appears elsewhere in it (an image's container
// has it at /mnt/mesos/sandbox).
func inContainer(l *isolators.Launch, sandbox, path string) string {
	if l.Sandbox == "" {
		return path
	}
	rel, err := filepath.Rel(sandbox, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return path
	}
	return filepath.Join(l.Sandbox, rel)
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

// adopt watches a process that is not our child (a container from
// before an agent restart) until it exits, and takes its status from its
// exit file. A process that is gone has its container's leftovers
// cleaned up at once (s.Exited and s.Destroyed run) and is ErrGone.
func adopt(pid int, startTime uint64, signal func(syscall.Signal) error, s Start) (*Process, error) {
	gone := func() (*Process, error) {
		s.exited(Exit{Code: -1, Err: ErrGone})
		s.destroyed()
		return nil, ErrGone
	}
	if pid <= 0 {
		return gone()
	}
	if st, err := StartTime(pid); err != nil || st != startTime {
		return gone()
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("containerizer: watching pid %d: %w", pid, err)
	}
	// The pid could have been reused between the check and the open.
	if st, err := StartTime(pid); err != nil || st != startTime {
		unix.Close(fd)
		return gone()
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
		p.markExited()
		exit, ok := exitFromFile(s.ExitFile)
		if !ok {
			exit = Exit{Code: -1, Err: errors.New("the task ended without leaving its exit status")}
		}
		p.exit = s.exited(exit)
		s.destroyed()
		close(p.done)
	}()
	return p, nil
}
