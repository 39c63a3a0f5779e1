//go:build linux && cgo

package containerizer

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/corral-sched/corral/agent/iosw"
)

// A container's terminal is made inside it, by libcontainer, on the
// container's own devpts (so that the process sees a terminal it can
// name, /dev/console or /dev/pts/N, and has it as its controlling
// terminal); the master side comes back to the agent over a socket.

// consoleSocket is a pair of connected sockets: the container's end goes
// to libcontainer as Process.ConsoleSocket, the agent's receives the
// master.
func consoleSocket() (agentEnd, containerEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("containerizer: console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-agent"), os.NewFile(uintptr(fds[1]), "console-container"), nil
}

// receiveConsole reads the terminal's master that the container's init
// sent, and makes it non-blocking so that closing it ends a pending read.
func receiveConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("containerizer: receiving the container's terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("containerizer: the container sent no terminal")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("containerizer: the container sent no terminal")
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("containerizer: the container's terminal: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

// withTerminal sets p up to get a terminal of size ws; the returned
// function, called once p has started, hands back its master.
func withTerminal(p *libcontainer.Process, ws iosw.WindowSize) (func() (*os.File, error), func(), error) {
	agentEnd, containerEnd, err := consoleSocket()
	if err != nil {
		return nil, nil, err
	}
	p.ConsoleSocket = containerEnd
	p.ConsoleWidth, p.ConsoleHeight = ws.Cols, ws.Rows
	cleanup := func() { agentEnd.Close(); containerEnd.Close() }
	receive := func() (*os.File, error) {
		containerEnd.Close() // the container holds its own copy now
		defer agentEnd.Close()
		return receiveConsole(agentEnd)
	}
	return receive, cleanup, nil
}

// containerSession runs sessions inside a container, as its user, where
// its command started (cwd; spec.Dir when that is not known, as for a
// container recovered after an agent restart).
func containerSession(c *libcontainer.Container, id string, uid, gid int, cwd string) func(SessionSpec) (*Session, error) {
	return func(spec SessionSpec) (*Session, error) {
		if len(spec.Argv) == 0 || spec.Argv[0] == "" {
			return nil, errors.New("containerizer: no command to run")
		}
		dir := cwd
		if dir == "" {
			dir = spec.Dir
		}
		ep := &libcontainer.Process{Args: spec.Argv, Env: spec.Env, Cwd: dir, UID: uid, GID: gid}
		var (
			board    *iosw.Board
			procEnds [3]*os.File
			receive  func() (*os.File, error)
			cleanup  = func() {}
		)
		if spec.TTY != nil {
			var err error
			if receive, cleanup, err = withTerminal(ep, *spec.TTY); err != nil {
				return nil, err
			}
		} else {
			proc, agent, err := iosw.Pipes()
			if err != nil {
				return nil, fmt.Errorf("containerizer: %w", err)
			}
			procEnds = proc
			ep.Stdin, ep.Stdout, ep.Stderr = proc[0], proc[1], proc[2]
			board = iosw.NewPipes(agent[0], agent[1], agent[2], nil, nil, nil)
		}
		err := c.Run(ep)
		closeFiles(procEnds[:])
		if err != nil {
			cleanup()
			if board != nil {
				board.Close()
			}
			return nil, fmt.Errorf("containerizer: running %q in container %s: %w", spec.Argv[0], id, err)
		}
		if receive != nil {
			master, err := receive()
			if err != nil {
				_ = ep.Signal(unix.SIGKILL)
				_, _ = ep.Wait()
				return nil, err
			}
			board = iosw.NewTerminal(master, nil, nil)
		}
		pid, _ := ep.Pid()
		// Its init made it a session leader (runc's nsexec calls setsid):
		// what it starts shares its session ID.
		inContainer := func() []int {
			pids, _ := c.Processes()
			return pids
		}
		s := newSession(pid, board, func(sig syscall.Signal) { signalSession(pid, sig, inContainer) })
		go func() {
			state, err := ep.Wait()
			s.finish(exitOfState(state, err))
		}()
		return s, nil
	}
}

// exitOfState is the Exit of a libcontainer process's wait.
func exitOfState(state *os.ProcessState, err error) Exit {
	if state == nil {
		return Exit{Code: -1, Err: err}
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			return Exit{Code: -1, Signal: ws.Signal()}
		}
		return Exit{Code: ws.ExitStatus()}
	}
	return Exit{Code: -1, Err: err}
}

// linuxStdio gives a container's init its stdio: the sandbox's files, or
// a terminal made inside the container whose output the Board appends to
// the sandbox's stdout.
func linuxStdio(p *libcontainer.Process, s Start) (*linuxTaskStdio, error) {
	stdout, stderr, err := openStdio(s.Sandbox)
	if err != nil {
		return nil, err
	}
	if s.TTY == nil {
		p.Stdout, p.Stderr = stdout, stderr
		return &linuxTaskStdio{taskStdio: taskStdio{files: []*os.File{stdout, stderr}}}, nil
	}
	stderr.Close() // a terminal has one output: stderr stays empty
	receive, cleanup, err := withTerminal(p, *s.TTY)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	return &linuxTaskStdio{taskStdio: taskStdio{sink: stdout}, receive: receive, cleanup: cleanup}, nil
}

// linuxTaskStdio is a taskStdio whose terminal arrives once the
// container's init has made it.
type linuxTaskStdio struct {
	taskStdio
	receive func() (*os.File, error)
	cleanup func()
	done    bool // started or failed: nothing left to close on return
}

// started takes the terminal's master, once init is running.
func (t *linuxTaskStdio) started() error {
	t.done = true
	closeFiles(t.files)
	if t.receive == nil {
		return nil
	}
	master, err := t.receive()
	if err != nil {
		t.sink.Close()
		return err
	}
	t.board = iosw.NewTerminal(master, t.sink, nil)
	t.board.Start()
	return nil
}

// closeUnstarted closes what a launch that failed before started left.
func (t *linuxTaskStdio) closeUnstarted() {
	if t.done {
		return
	}
	closeFiles(t.files)
	if t.cleanup != nil {
		t.cleanup()
	}
	if t.sink != nil && t.receive != nil {
		t.sink.Close()
	}
}
