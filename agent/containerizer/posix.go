// Package containerizer starts and stops the processes of tasks. A
// Launcher turns a Spec into a running Process; the posix launcher runs it
// as a process group of its own, optionally as another user, with stdout
// and stderr in the sandbox. The linux launcher (libcontainer) slots in
// behind the same interface.
package containerizer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec is what to run.
type Spec struct {
	// Shell runs Value with /bin/sh -c; otherwise Value is the program and
	// Args its argv (Args[0] is argv[0]).
	Shell bool
	Value string
	Args  []string
	Env   []string
	// Dir is the sandbox: the working directory, holding stdout and stderr.
	Dir string
	// User to run as; "" runs as the agent's user.
	User string

	// ExitFile, if set, receives the task's exit status when it ends, even
	// if the agent is not there to see it (see recover.go).
	ExitFile string

	// What only isolating launchers use: the container's ID, its limits,
	// its hostname and what to mount into it.
	ID       string
	CPUs     float64
	MemBytes int64
	Hostname string
	Mounts   []Mount
	// NetNS, when the launcher isolates networks, is the network namespace
	// to join (a path such as /proc/<pid>/ns/net) instead of a new one:
	// the tasks of a group share one.
	NetNS string
}

// Mount makes a host directory appear in the container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Exit is how a process ended.
type Exit struct {
	Code   int            // exit status, -1 if killed by a signal
	Signal syscall.Signal // the signal that killed it, if any
	Err    error          // waiting failed
	// Limitation names the limit the container hit, if that is why it
	// ended ("memory").
	Limitation string
}

// String describes the exit the way Mesos' command executor does.
func (e Exit) String() string {
	switch {
	case e.Err != nil:
		return "Failed to wait for the command: " + e.Err.Error()
	case e.Limitation == "memory":
		return "Memory limit exceeded: the container was OOM-killed"
	case e.Signal != 0:
		return "Command terminated with signal " + e.Signal.String()
	}
	return "Command exited with status " + strconv.Itoa(e.Code)
}

// Process is a started task process.
type Process struct {
	Pid  int
	done chan struct{}
	exit Exit

	mu     sync.Mutex
	exited bool // guarded by mu; no signal may go to the group after this
	// signal, if set, replaces signalling the process group (containers
	// are signalled through their runtime).
	signal func(syscall.Signal) error
	// exec, if set, runs a command inside the process's container.
	exec func(ctx context.Context, argv, env []string, dir string) ([]byte, error)
}

// Exec runs argv inside the process's container (its namespaces and
// cgroups) and returns its combined output; ok is false when the process
// has no container, and the caller should run the command itself.
func (p *Process) Exec(ctx context.Context, argv, env []string, dir string) (out []byte, err error, ok bool) {
	if p.exec == nil {
		return nil, nil, false
	}
	out, err = p.exec(ctx, argv, env, dir)
	return out, err, true
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit returns how the process ended; valid after Done is closed.
func (p *Process) Exit() Exit { return p.exit }

// Signal sends sig to the process's whole group, unless it has exited
// (its pid may have been reused since).
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	if p.signal != nil {
		return p.signal(sig)
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("containerizer: signalling process group %d: %w", p.Pid, err)
	}
	return nil
}

// Kill asks the process to stop with SIGTERM and sends SIGKILL if it is
// still there after grace. It returns when the process has exited or ctx
// is done.
func (p *Process) Kill(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Launcher starts processes, and takes back those a previous agent
// started.
type Launcher interface {
	Launch(spec Spec) (*Process, error)
	// Recover re-attaches to spec's process, started earlier as pid at
	// startTime; ErrGone if it is no longer running.
	Recover(spec Spec, pid int, startTime uint64) (*Process, error)
	// Containers lists, by container ID, the containers this launcher
	// started for sandboxes under sandboxRoot that are still on the host:
	// recovery adopts those a checkpoint names without their process, and
	// kills those no checkpoint names.
	Containers(sandboxRoot string) map[string]Running
}

// Posix launches plain processes, each in a process group of its own.
type Posix struct{}

var _ Launcher = Posix{}

// Launch starts spec. Errors here are launch failures (bad user, missing
// program): the task never ran.
func (Posix) Launch(spec Spec) (*Process, error) {
	var cmd *exec.Cmd
	switch {
	case spec.Value == "" && !spec.Shell:
		return nil, errors.New("containerizer: no command to run")
	case spec.ExitFile != "":
		argv := argv(spec)
		if !spec.Shell {
			if _, err := exec.LookPath(spec.Value); err != nil {
				return nil, fmt.Errorf("containerizer: starting %q: %w", spec.Value, err)
			}
		}
		w := wrap(spec.ExitFile, argv)
		cmd = exec.Command(w[0], w[1:]...)
	case spec.Shell:
		cmd = exec.Command("/bin/sh", "-c", spec.Value)
	default:
		cmd = exec.Command(spec.Value)
		if len(spec.Args) > 0 {
			cmd.Args = spec.Args
		}
	}
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if spec.User != "" {
		cred, err := credential(spec.User)
		if err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
		if cred != nil {
			if err := chownSandbox(spec.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	stdout, err := os.OpenFile(filepath.Join(spec.Dir, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("containerizer: opening stdout: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(spec.Dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("containerizer: opening stderr: %w", err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("containerizer: starting %q: %w", cmd.Path, err)
	}
	p := &Process{Pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		p.exit = exitOf(cmd, err)
		if spec.ExitFile != "" {
			if e, ok := exitFromFile(spec.ExitFile); ok && p.exit.Err == nil && p.exit.Signal == 0 {
				p.exit = e // the command's status, not the wrapper's
			}
		}
		close(p.done)
	}()
	return p, nil
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

// argv is the command line of spec.
func argv(spec Spec) []string {
	if spec.Shell {
		return []string{"/bin/sh", "-c", spec.Value}
	}
	if len(spec.Args) > 0 {
		args := append([]string(nil), spec.Args...)
		args[0] = spec.Value
		return args
	}
	return []string{spec.Value}
}

// Recover re-attaches to a task process group started by an earlier
// agent.
func (Posix) Recover(spec Spec, pid int, startTime uint64) (*Process, error) {
	signal := func(sig syscall.Signal) error {
		if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("containerizer: signalling process group %d: %w", pid, err)
		}
		return nil
	}
	return adopt(pid, startTime, spec.ExitFile, signal, nil)
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
