//go:build linux && cgo

package containerizer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	// Device rules in the cgroup, and the C half of container init.
	_ "github.com/opencontainers/cgroups/devices"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Init runs container init when the binary was re-executed as "init" by
// libcontainer; it does not return. Binaries that may launch linux
// containers call it first thing in main (and test binaries in TestMain).
func Init() { libcontainer.Init() }

// LinuxAvailable reports why linux containers cannot be made here, or "".
func LinuxAvailable() string {
	if os.Geteuid() != 0 {
		return "linux isolation needs root"
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil && !cgroups.IsCgroup2UnifiedMode() {
		return "no memory cgroup at /sys/fs/cgroup/memory"
	}
	return ""
}

// CgroupV2 reports whether the host runs one unified cgroup v2 hierarchy.
func CgroupV2() bool { return cgroups.IsCgroup2UnifiedMode() }

// Linux makes each container through runc's libcontainer, from what the
// isolators prepared: a root of its own, namespaces, cgroups (always, for
// a container's cgroups are how it is found and destroyed whole).
type Linux struct {
	// Root holds libcontainer's state (Root/<container>).
	Root string
	// CgroupParent is the cgroup every container's cgroup goes under.
	CgroupParent string
}

var _ Launcher = (*Linux)(nil)

// Launch creates and starts s's container.
func (l *Linux) Launch(s Start) (*Process, error) {
	cfg, err := libcontainerConfig(s.ID, s.Launch, l.CgroupParent)
	if err != nil {
		return nil, err
	}
	container, err := libcontainer.Create(l.Root, s.ID, cfg)
	if err != nil {
		return nil, fmt.Errorf("containerizer: creating container %s: %w", s.ID, err)
	}
	lp := s.Launch.Process
	proc := &libcontainer.Process{Args: lp.Args, Env: lp.Env, Cwd: lp.Cwd, Init: true}
	stdio, err := linuxStdio(proc, s)
	if err != nil {
		_ = container.Destroy()
		return nil, err
	}
	defer stdio.closeUnstarted()
	if lp.User != "" {
		uid, gid, err := lookupIDs(lp.User)
		if err != nil {
			_ = container.Destroy()
			return nil, err
		}
		proc.UID, proc.GID = uid, gid
		if uid != 0 {
			if err := chownSandbox(s.Sandbox, uid, gid); err != nil {
				_ = container.Destroy()
				return nil, err
			}
		}
	}
	if err := container.Start(proc); err != nil {
		_ = container.Destroy()
		return nil, fmt.Errorf("containerizer: starting container %s: %w", s.ID, err)
	}
	pid, _ := proc.Pid()
	if err := stdio.started(); err != nil {
		_ = container.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		_ = container.Destroy()
		return nil, err
	}
	if s.Started != nil {
		// The command waits at the exec barrier until the isolators are done.
		if err := s.Started(pid); err != nil {
			_ = container.Signal(unix.SIGKILL)
			_, _ = proc.Wait()
			stdio.exited()
			_ = container.Destroy()
			return nil, err
		}
	}
	if err := container.Exec(); err != nil {
		_ = container.Signal(unix.SIGKILL)
		_, _ = proc.Wait()
		stdio.exited()
		_ = container.Destroy()
		return nil, fmt.Errorf("containerizer: starting container %s: %w", s.ID, err)
	}
	p := &Process{Pid: pid, done: make(chan struct{}), stdio: stdio.board}
	p.signal = containerSignal(container, s.ID)
	p.exec = containerExec(container, s.ID, proc.UID, proc.GID)
	p.session = containerSession(container, s.ID, proc.UID, proc.GID, lp.Cwd)
	go func() {
		state, err := proc.Wait()
		stdio.exited()
		exit := Exit{Code: -1, Err: err}
		if state != nil {
			if ws, ok := state.Sys().(syscall.WaitStatus); ok {
				if ws.Signaled() {
					exit = Exit{Code: -1, Signal: ws.Signal()}
				} else {
					exit = Exit{Code: ws.ExitStatus()}
				}
			}
		}
		if s.ExitFile != "" && exit.Err == nil && exit.Signal == 0 {
			if e, ok := exitFromFile(s.ExitFile); ok {
				exit = e // the command's status, not the wrapper's
			}
		}
		p.markExited()
		p.exit = s.exited(exit)
		_ = container.Destroy()
		s.destroyed()
		close(p.done)
	}()
	return p, nil
}

// containerSignal signals a container: SIGKILL through its init (the
// kernel then kills everything in its PID namespace), other signals to
// every process in it, since its init (the exit-status wrapper, or a
// command running as PID 1) ignores what it has no handler for.
func containerSignal(c *libcontainer.Container, id string) func(syscall.Signal) error {
	return func(sig syscall.Signal) error {
		if sig == syscall.SIGKILL {
			if err := c.Signal(sig); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
				return fmt.Errorf("containerizer: signalling container %s: %w", id, err)
			}
			return nil
		}
		pids, err := c.Processes()
		if err != nil {
			return nil // stopped meanwhile
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, sig)
		}
		return nil
	}
}

// containerExec runs a command inside a container (health checks).
func containerExec(c *libcontainer.Container, id string, uid, gid int) func(ctx context.Context, argv, env []string, dir string) ([]byte, error) {
	return func(ctx context.Context, argv, env []string, dir string) ([]byte, error) {
		var out bytes.Buffer
		w := &lockedWriter{w: &out}
		ep := &libcontainer.Process{Args: argv, Env: env, Cwd: dir, Stdout: w, Stderr: w, UID: uid, GID: gid}
		if err := c.Run(ep); err != nil {
			return nil, fmt.Errorf("running %q in container %s: %w", argv, id, err)
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				_ = ep.Signal(syscall.SIGKILL)
			case <-done:
			}
		}()
		state, err := ep.Wait()
		close(done)
		if ctx.Err() != nil {
			return w.bytes(), ctx.Err()
		}
		if err != nil {
			return w.bytes(), err
		}
		if !state.Success() {
			return w.bytes(), fmt.Errorf("exit status %d", state.ExitCode())
		}
		return w.bytes(), nil
	}
}

// Recover re-attaches to a container an earlier agent started.
func (l *Linux) Recover(s Start, pid int, startTime uint64) (*Process, error) {
	container, err := libcontainer.Load(l.Root, s.ID)
	if err != nil {
		s.exited(Exit{Code: -1, Err: ErrGone})
		s.destroyed()
		return nil, ErrGone
	}
	destroy := s.Destroyed
	s.Destroyed = func() {
		_ = container.Destroy()
		if destroy != nil {
			destroy()
		}
	}
	p, err := adopt(pid, startTime, containerSignal(container, s.ID), s)
	if err != nil {
		return nil, err
	}
	st, _ := container.State()
	uid, gid := 0, 0
	if st != nil && st.Config.Rootfs != "" {
		uid, gid = containerIDs(st)
	}
	p.exec = containerExec(container, s.ID, uid, gid)
	p.session = containerSession(container, s.ID, uid, gid, "")
	return p, nil
}

// containerIDs are the ids a recovered container's processes run as:
// those of its init, which exec'd commands take too.
func containerIDs(st *libcontainer.State) (int, int) {
	var ps unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(st.InitProcessPid), &ps); err != nil {
		return 0, 0
	}
	return int(ps.Uid), int(ps.Gid)
}

// Containers lists the containers in libcontainer's state dir, running
// or left behind by a process that ended while nobody watched (Pid 0).
func (l *Linux) Containers(string) map[string]Running {
	entries, err := os.ReadDir(l.Root)
	if err != nil {
		return nil
	}
	found := make(map[string]Running, len(entries))
	for _, e := range entries {
		c, err := libcontainer.Load(l.Root, e.Name())
		if err != nil {
			continue
		}
		var r Running
		if status, err := c.Status(); err == nil && status != libcontainer.Stopped {
			if state, err := c.State(); err == nil {
				r = Running{Pid: state.InitProcessPid, StartTime: state.InitProcessStartTime}
			}
		}
		found[e.Name()] = r
	}
	return found
}

func lookupIDs(name string) (int, int, error) {
	// "uid:gid" is already resolved (docker/runtime resolves an image's
	// users in the image's own /etc/passwd).
	if u, g, ok := strings.Cut(name, ":"); ok {
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if err1 == nil && err2 == nil && uid >= 0 && gid >= 0 {
			return uid, gid, nil
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("containerizer: unknown user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("containerizer: user %q has a non-numeric uid or gid", name)
	}
	return uid, gid, nil
}

// lockedWriter lets a command's stdout and stderr share one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.w.(*bytes.Buffer).Bytes())
}
