package containerizer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-sched/corral/agent/iosw"
)

// A session is a command run next to a container's own (Mesos' nested
// container session): on a linux container, inside it, sharing its
// namespaces, cgroups and root; on the host for a posix one. Its stdio is
// a Board of its own, a terminal or pipes, which its caller starts once it
// has subscribed, so that no output is missed. It runs in a session (and
// process group) of its own, which is how Kill finds everything it
// started.

// SessionSpec is a command to run as a session.
type SessionSpec struct {
	Argv []string
	Env  []string
	// Dir is where a host session starts, and a container's when where
	// its command started is not known.
	Dir string
	// User runs it on the host ("" for the agent's user); a container's
	// session runs as the container's user.
	User string
	// TTY gives it a terminal of this size; nil gives it pipes.
	TTY *iosw.WindowSize
}

// Session is a running session. Its caller subscribes to Stdio, then
// calls Start.
type Session struct {
	Pid   int
	Stdio *iosw.Board
	done  chan struct{}
	exit  Exit
	// kill signals every process of the session.
	kill    func(syscall.Signal)
	started chan struct{}
	once    sync.Once
}

func newSession(pid int, board *iosw.Board, kill func(syscall.Signal)) *Session {
	return &Session{Pid: pid, Stdio: board, done: make(chan struct{}), kill: kill, started: make(chan struct{})}
}

// Start lets the output flow. Until then the session's exit waits, so
// that a command that ends at once still has its output read by the
// caller's readers.
func (s *Session) Start() {
	s.once.Do(func() {
		s.Stdio.Start()
		close(s.started)
	})
}

// finish records the exit once the output is read; the launcher's waiter
// calls it when the command has exited.
func (s *Session) finish(e Exit) {
	<-s.started
	s.exit = e
	s.Stdio.Settle(sessionSettle)
	close(s.done)
}

// Done is closed once the session's command has exited and its output
// has been read.
func (s *Session) Done() <-chan struct{} { return s.done }

// Exit is how the command ended; valid once Done is closed.
func (s *Session) Exit() Exit { return s.exit }

// Kill signals everything the session started (SIGKILL leaves nothing).
func (s *Session) Kill(sig syscall.Signal) { s.kill(sig) }

// sessionSettle bounds how long a session's (or a terminal task's)
// output is read after its command exited: what a child left holding the
// streams writes later is lost to attached clients, not to the exit.
const sessionSettle = 2 * time.Second

// Session starts spec inside the process's container; ok is false when
// the process has no container, and the caller should use HostSession.
func (p *Process) Session(spec SessionSpec) (s *Session, err error, ok bool) {
	if p.session == nil {
		return nil, nil, false
	}
	s, err = p.session(spec)
	return s, err, true
}

// HostSession starts spec on the host, in a session of its own.
func HostSession(spec SessionSpec) (*Session, error) {
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, errors.New("containerizer: no command to run")
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir, cmd.Env = spec.Dir, spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	uid, gid := -1, -1
	if spec.User != "" {
		cred, err := credential(spec.User)
		if err != nil {
			return nil, err
		}
		if cred != nil {
			cmd.SysProcAttr.Credential = cred
			uid, gid = int(cred.Uid), int(cred.Gid)
		}
	}
	board, procEnds, err := sessionStdio(spec.TTY, uid, gid)
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = procEnds[0], procEnds[1], procEnds[2]
	if spec.TTY != nil {
		// The terminal becomes the session's controlling terminal: ^C
		// interrupts, a shell has job control.
		cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, 0
	}
	err = cmd.Start()
	closeFiles(procEnds[:])
	if err != nil {
		board.Close()
		return nil, fmt.Errorf("containerizer: starting %q in %s: %w", spec.Argv[0], spec.Dir, err)
	}
	pid := cmd.Process.Pid
	s := newSession(pid, board, func(sig syscall.Signal) { signalSession(pid, sig, nil) })
	go func() {
		err := cmd.Wait()
		s.finish(exitOf(cmd, err))
	}()
	return s, nil
}

// sessionStdio makes a session's Board and the process's ends of it.
func sessionStdio(tty *iosw.WindowSize, uid, gid int) (*iosw.Board, [3]*os.File, error) {
	if tty != nil {
		master, slave, err := iosw.OpenPTY(*tty, uid, gid)
		if err != nil {
			return nil, [3]*os.File{}, fmt.Errorf("containerizer: %w", err)
		}
		return iosw.NewTerminal(master, nil, nil), [3]*os.File{slave, slave, slave}, nil
	}
	proc, agent, err := iosw.Pipes()
	if err != nil {
		return nil, [3]*os.File{}, fmt.Errorf("containerizer: %w", err)
	}
	return iosw.NewPipes(agent[0], agent[1], agent[2], nil, nil, nil), proc, nil
}

// closeFiles closes files, each once (a terminal is all three stdio).
func closeFiles(files []*os.File) {
	seen := map[*os.File]bool{}
	for _, f := range files {
		if f != nil && !seen[f] {
			seen[f] = true
			f.Close()
		}
	}
}

// signalSession signals every process whose session is sid, among pids
// (nil: every process on the host), until none is left for SIGKILL: a
// fork between the scan and the kill is caught by the next round.
func signalSession(sid int, sig syscall.Signal, pids func() []int) {
	for range 10 {
		found := false
		for _, pid := range candidates(pids) {
			if sessionOf(pid) == sid {
				found = true
				_ = syscall.Kill(pid, sig)
			}
		}
		if !found || sig != syscall.SIGKILL {
			return
		}
	}
}

func candidates(pids func() []int) []int {
	if pids != nil {
		return pids()
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// sessionOf is a live process's session ID, -1 if it is gone (or a
// zombie, which nothing can kill twice).
func sessionOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	// After the command: state ppid pgrp session.
	fields := strings.Fields(s[i+1:])
	if len(fields) < 4 || fields[0] == "Z" {
		return -1
	}
	sid, err := strconv.Atoi(fields[3])
	if err != nil {
		return -1
	}
	return sid
}
