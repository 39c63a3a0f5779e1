package containerizer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Spec is one container the agent asks for: a task's or an executor's.
type Spec struct {
	// ID is the container's ID; Sandbox its sandbox on the host, the
	// working directory, holding stdout and stderr.
	ID      string
	Sandbox string
	// User runs the command; "" runs it as the agent's user.
	User string
	// Shell runs Value with /bin/sh -c; otherwise Value is the program
	// and Args its argv (Args[0] is argv[0]).
	Shell bool
	Value string
	Args  []string
	Env   []string
	// Limits, Volumes and Info are what the isolators act on.
	Limits  isolators.Limits
	Volumes []isolators.Volume
	Info    *mesospb.ContainerInfo
	// NetNS is a network namespace to join instead of making one: the
	// tasks of a group share the first one's.
	NetNS string
	// ExitFile, if set, receives the command's exit status when it ends,
	// even if the agent is not there to see it (see recover.go).
	ExitFile string
	// CommandUser is the task's own CommandInfo.user: it outranks an
	// image's User, which outranks the framework's user in User.
	CommandUser string
	// Report, if set, hears what the launch is doing while it takes long
	// (pulling an image); it is called off the caller's goroutine.
	Report func(message string)
	// TTY, if set, runs the command on a terminal of this size (the
	// task's ContainerInfo.tty_info) instead of the sandbox's stdout and
	// stderr files: the Process's Stdio switches it, and appends what it
	// writes to the sandbox's stdout.
	TTY *iosw.WindowSize
}

// command is spec's command as a CommandInfo, for docker/runtime.
func command(spec Spec) *mesospb.CommandInfo {
	c := &mesospb.CommandInfo{Shell: proto.Bool(spec.Shell), Arguments: spec.Args}
	if spec.Value != "" {
		c.Value = proto.String(spec.Value)
	}
	if spec.CommandUser != "" {
		c.User = proto.String(spec.CommandUser)
	}
	return c
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

// Exit is how a container's process ended.
type Exit struct {
	Code   int            // exit status, -1 if killed by a signal
	Signal syscall.Signal // the signal that killed it, if any
	Err    error          // waiting failed
	// Limitation is the limit the container hit, if that is why it ended.
	Limitation *isolators.Limitation
}

// String describes the exit the way Mesos' command executor does.
func (e Exit) String() string {
	switch {
	case e.Err != nil:
		return "Failed to wait for the command: " + e.Err.Error()
	case e.Limitation != nil:
		return e.Limitation.Message
	case e.Signal != 0:
		return "Command terminated with signal " + e.Signal.String()
	}
	return "Command exited with status " + strconv.Itoa(e.Code)
}

// Process is a running container's main process, and the handle to the
// container.
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
	// session, if set, starts a session inside the process's container.
	session func(SessionSpec) (*Session, error)
	// stdio switches the process's terminal, when it has one.
	stdio *iosw.Board
	// usage and update reach the container's isolators; set by the
	// Containerizer before the Process is handed out.
	usage  func(ctx context.Context) (isolators.Usage, error)
	update func(ctx context.Context, l isolators.Limits) error
	// networks are what the isolators reported of the container's
	// networks; set before the Process is handed out.
	networks []*mesospb.NetworkInfo
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

// Done is closed when the process has exited and its container is gone.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stdio is the switchboard of the process's terminal; nil when it has
// none (its output goes straight to the sandbox files, or it was
// recovered after an agent restart, which its terminal did not survive).
func (p *Process) Stdio() *iosw.Board { return p.stdio }

// Exit returns how the process ended; valid after Done is closed.
func (p *Process) Exit() Exit { return p.exit }

// Usage measures the container, as its isolators can.
func (p *Process) Usage(ctx context.Context) (isolators.Usage, error) {
	if p.usage == nil {
		return isolators.Usage{}, errors.New("containerizer: nothing measures this container")
	}
	return p.usage(ctx)
}

// Update applies new limits to the running container (an executor grows
// and shrinks with its tasks).
func (p *Process) Update(ctx context.Context, l isolators.Limits) error {
	if p.update == nil {
		return nil
	}
	return p.update(ctx, l)
}

// Signal sends sig to the process's whole group (or container), unless it
// has exited (its pid may have been reused since).
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

// markExited stops signals: the pid may be reused from now on.
func (p *Process) markExited() {
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
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

// ErrGone means a recovered container's process is no longer there.
var ErrGone = errors.New("containerizer: the process is gone")

// Running is a container found on the host, whatever the agent's
// checkpoints say: a checkpoint can miss a container that started (a full
// disk, a crash between the start and the write). Pid is 0 for a
// container whose process is gone but whose runtime state remains.
type Running struct {
	Pid       int
	StartTime uint64
}

// Start is what a launcher needs to start (or take back) a container.
type Start struct {
	ID      string
	Sandbox string
	Launch  *isolators.Launch
	// ExitFile is where the exit-status wrapper leaves the status.
	ExitFile string
	// TTY gives the process a terminal of this size (see Spec.TTY).
	TTY *iosw.WindowSize
	// Exited runs once the process is gone, before the launcher destroys
	// the container's runtime state (its cgroups can still be read), and
	// returns the exit to report; Destroyed runs after. Either may be nil.
	Exited    func(Exit) Exit
	Destroyed func()
	// Started, if set, runs once the container's process exists and
	// before its command runs (the linux launcher holds it at its exec
	// barrier): the isolators act on the process there, so that what they
	// finish meanwhile (a network being attached) is ready when the
	// command starts. An error stops the launch; launchers that cannot
	// hold the command leave Started to the caller.
	Started func(pid int) error
}

func (s Start) exited(e Exit) Exit {
	if s.Exited != nil {
		return s.Exited(e)
	}
	return e
}

func (s Start) destroyed() {
	if s.Destroyed != nil {
		s.Destroyed()
	}
}

// Launcher makes containers from what the isolators prepared, and takes
// back those a previous agent made.
type Launcher interface {
	Launch(s Start) (*Process, error)
	// Recover re-attaches to container s.ID, started earlier as pid at
	// startTime; ErrGone if it is no longer running (its runtime state is
	// then cleaned up).
	Recover(s Start, pid int, startTime uint64) (*Process, error)
	// Containers lists, by container ID, the containers this launcher
	// made for sandboxes under sandboxRoot that are still on the host.
	Containers(sandboxRoot string) map[string]Running
}
