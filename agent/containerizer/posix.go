package containerizer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Posix launches plain processes on the host, each in a process group of
// its own, optionally as another user, with stdout and stderr in the
// sandbox. It cannot give a container a root, namespaces or cgroups of
// its own: those take the linux launcher.
type Posix struct{}

var _ Launcher = Posix{}

// Launch starts the container's process. Errors here are launch failures
// (bad user, missing program): the task never ran.
func (Posix) Launch(s Start) (*Process, error) {
	l := s.Launch
	switch {
	case l.Rootfs != "" || len(l.Namespaces) > 0 || l.Cgroups != nil:
		return nil, errors.New("containerizer: a container with a root, namespaces or cgroups of its own needs the linux launcher")
	case len(l.Process.Args) == 0 || l.Process.Args[0] == "":
		return nil, errors.New("containerizer: no command to run")
	}
	cmd := exec.Command(l.Process.Args[0], l.Process.Args[1:]...)
	cmd.Dir = l.Process.Cwd
	cmd.Env = l.Process.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.Process.User != "" {
		cred, err := credential(l.Process.User)
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
		if cred != nil {
			if err := chownSandbox(s.Sandbox, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	stdio, err := posixStdio(cmd, s)
	if err != nil {
		return nil, err
	}
	err = cmd.Start()
	stdio.started(err)
	if err != nil {
		return nil, fmt.Errorf("containerizer: starting %q: %w", cmd.Path, err)
	}
	p := &Process{Pid: cmd.Process.Pid, done: make(chan struct{}), stdio: stdio.board}
	go func() {
		err := cmd.Wait()
		stdio.exited()
		p.markExited()
		exit := exitOf(cmd, err)
		if s.ExitFile != "" {
			if e, ok := exitFromFile(s.ExitFile); ok && exit.Err == nil && exit.Signal == 0 {
				exit = e // the command's status, not the wrapper's
			}
		}
		p.exit = s.exited(exit)
		s.destroyed()
		close(p.done)
	}()
	return p, nil
}

// posixStdio gives cmd its stdio: the sandbox's stdout and stderr files,
// or a terminal whose output the Board appends to stdout. A terminal is
// the controlling terminal of a session of the task's own (which is a
// process group too, as the launcher needs).
func posixStdio(cmd *exec.Cmd, s Start) (*taskStdio, error) {
	if s.TTY == nil {
		stdout, stderr, err := openStdio(s.Sandbox)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		return &taskStdio{files: []*os.File{stdout, stderr}}, nil
	}
	uid, gid := -1, -1
	if c := cmd.SysProcAttr.Credential; c != nil {
		uid, gid = int(c.Uid), int(c.Gid)
	}
	st, err := openTerminal(s.Sandbox, *s.TTY, uid, gid)
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = st.tty, st.tty, st.tty
	cmd.SysProcAttr.Setpgid = false
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	return st, nil
}

// openStdio opens the sandbox's stdout and stderr for appending.
func openStdio(sandbox string) (stdout, stderr *os.File, err error) {
	stdout, err = os.OpenFile(filepath.Join(sandbox, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("containerizer: opening stdout: %w", err)
	}
	stderr, err = os.OpenFile(filepath.Join(sandbox, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return nil, nil, fmt.Errorf("containerizer: opening stderr: %w", err)
	}
	return stdout, stderr, nil
}

func exitOf(cmd *exec.Cmd, err error) Exit {
	if cmd.ProcessState == nil {
		return Exit{Code: -1, Err: err}
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return Exit{Code: -1, Err: err}
	}
	if ws.Signaled() {
		return Exit{Code: -1, Signal: ws.Signal()}
	}
	return Exit{Code: ws.ExitStatus()}
}

// Recover re-attaches to a task process group started by an earlier
// agent.
func (Posix) Recover(s Start, pid int, startTime uint64) (*Process, error) {
	signal := func(sig syscall.Signal) error {
		if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("containerizer: signalling process group %d: %w", pid, err)
		}
		return nil
	}
	return adopt(pid, startTime, signal, s)
}

// Containers finds the process groups of tasks under sandboxRoot.
func (Posix) Containers(sandboxRoot string) map[string]Running { return findProcessGroups(sandboxRoot) }

// credential returns the uid/gid to run as user, or nil when no switch is
// needed (same user) or possible (the agent is not root).
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("containerizer: unknown user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("containerizer: user %q has a non-numeric uid or gid", name)
	}
	if int(uid) == os.Getuid() || os.Getuid() != 0 {
		return nil, nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chownSandbox hands the sandbox to the task's user so that it can write
// there.
func chownSandbox(dir string, uid, gid int) error {
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("containerizer: giving sandbox to uid %d: %w", uid, err)
	}
	return nil
}
