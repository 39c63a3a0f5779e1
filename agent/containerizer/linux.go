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
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	// Device rules in the cgroup, and the C half of container init.
	_ "github.com/opencontainers/cgroups/devices"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Init runs container init when the binary was re-executed as "init" by
// libcontainer; it does not return. Binaries that may launch linux
// containers call it first thing in main (and test binaries in TestMain).
func Init() { libcontainer.Init() }

// LinuxAvailable reports why linux isolation cannot be used here, or "".
func LinuxAvailable() string {
	if os.Geteuid() != 0 {
		return "linux isolation needs root"
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil && !cgroups.IsCgroup2UnifiedMode() {
		return "no memory cgroup at /sys/fs/cgroup/memory"
	}
	return ""
}

// Linux launches each task in a container of its own through runc's
// libcontainer: cgroups limit cpu (shares, and a CFS quota with CFS),
// memory (an OOM kill is reported as a memory limitation) and pids; new
// pid, mount, uts and ipc namespaces (and a network namespace with only
// loopback when IsolateNetwork); the host's /usr and /etc read-only on an
// otherwise empty root, the sandbox and volumes bind-mounted at their
// paths.
type Linux struct {
	// Root holds libcontainer's state and the containers' root dirs.
	Root string
	// CgroupParent is the cgroup every container's cgroup goes under.
	CgroupParent string
	// CFS enforces cpus as a hard CFS quota, not only as shares.
	CFS bool
	// PidsLimit caps processes per container; 0 means none.
	PidsLimit int64
	// IsolateNetwork gives each container its own network namespace with
	// loopback only; otherwise tasks share the host's network.
	IsolateNetwork bool
}

var _ Launcher = (*Linux)(nil)

var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Launch creates and starts spec's container.
func (l *Linux) Launch(spec Spec) (*Process, error) {
	if spec.ID == "" {
		return nil, errors.New("containerizer: a linux container needs an ID")
	}
	rootfs := filepath.Join(l.Root, "rootfs", spec.ID)
	if err := makeRootfs(rootfs); err != nil {
		return nil, err
	}
	cfg := l.config(spec, rootfs)
	container, err := libcontainer.Create(filepath.Join(l.Root, "state"), spec.ID, cfg)
	if err != nil {
		os.RemoveAll(rootfs)
		return nil, fmt.Errorf("containerizer: creating container %s: %w", spec.ID, err)
	}
	cleanup := func() {
		_ = container.Destroy()
		_ = os.RemoveAll(rootfs)
	}
	stdout, err := os.OpenFile(filepath.Join(spec.Dir, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("containerizer: opening stdout: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(spec.Dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("containerizer: opening stderr: %w", err)
	}
	defer stderr.Close()
	args := argv(spec)
	if spec.ExitFile != "" {
		args = wrap(spec.ExitFile, args)
	}
	proc := &libcontainer.Process{Args: args, Env: spec.Env, Cwd: spec.Dir, Stdout: stdout, Stderr: stderr, Init: true}
	if spec.User != "" {
		uid, gid, err := lookupIDs(spec.User)
		if err != nil {
			cleanup()
			return nil, err
		}
		proc.UID, proc.GID = uid, gid
		if uid != 0 {
			if err := chownSandbox(spec.Dir, uid, gid); err != nil {
				cleanup()
				return nil, err
			}
		}
	}
	if err := container.Run(proc); err != nil {
		cleanup()
		return nil, fmt.Errorf("containerizer: starting container %s: %w", spec.ID, err)
	}
	oom, err := container.NotifyOOM()
	if err != nil {
		oom = nil // no OOM notice: an OOM kill is then reported as a SIGKILL
	}
	pid, _ := proc.Pid()
	p := &Process{Pid: pid, done: make(chan struct{})}
	p.signal = containerSignal(container, spec.ID)
	p.exec = func(ctx context.Context, argv, env []string, dir string) ([]byte, error) {
		var out bytes.Buffer
		w := &lockedWriter{w: &out}
		ep := &libcontainer.Process{Args: argv, Env: env, Cwd: dir, Stdout: w, Stderr: w, UID: proc.UID, GID: proc.GID}
		if err := container.Run(ep); err != nil {
			return nil, fmt.Errorf("running %q in container %s: %w", argv, spec.ID, err)
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
	go func() {
		state, err := proc.Wait()
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
		if spec.ExitFile != "" && exit.Err == nil && exit.Signal == 0 {
			if e, ok := exitFromFile(spec.ExitFile); ok {
				exit = e // the command's status, not the wrapper's
			}
		}
		if containerOOM(container, oom) {
			exit.Limitation = "memory"
		}
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		cleanup()
		p.exit = exit
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

// Recover re-attaches to a container an earlier agent started.
func (l *Linux) Recover(spec Spec, pid int, startTime uint64) (*Process, error) {
	container, err := libcontainer.Load(filepath.Join(l.Root, "state"), spec.ID)
	if err != nil {
		_ = os.RemoveAll(filepath.Join(l.Root, "rootfs", spec.ID))
		return nil, ErrGone
	}
	cleanup := func() {
		_ = container.Destroy()
		_ = os.RemoveAll(filepath.Join(l.Root, "rootfs", spec.ID))
	}
	p, err := adopt(pid, startTime, spec.ExitFile, containerSignal(container, spec.ID), cleanup)
	if err != nil {
		cleanup()
		return nil, err
	}
	return p, nil
}

// Containers lists the containers in libcontainer's state dir, running
// or left behind by a process that ended while nobody watched (Pid 0).
func (l *Linux) Containers(string) map[string]Running {
	dir := filepath.Join(l.Root, "state")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	found := make(map[string]Running, len(entries))
	for _, e := range entries {
		c, err := libcontainer.Load(dir, e.Name())
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

// containerOOM reports whether the OOM killer struck inside c (see
// oomKilled), reading its memory cgroup while it still exists.
func containerOOM(c *libcontainer.Container, notice <-chan struct{}) bool {
	v2 := cgroups.IsCgroup2UnifiedMode()
	dir := ""
	if state, err := c.State(); err == nil {
		if v2 {
			dir = state.CgroupPaths[""] // one unified hierarchy
		} else {
			dir = state.CgroupPaths["memory"]
		}
	}
	return oomKilled(notice, v2, dir)
}

func lookupIDs(name string) (int, int, error) {
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

// makeRootfs prepares an empty root whose /bin, /sbin and /lib point into
// /usr, which (like /etc) is bind-mounted read-only from the host inside
// the container's mount namespace only.
func makeRootfs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("containerizer: creating the container's root: %w", err)
	}
	for _, d := range []string{"usr", "etc", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("containerizer: creating the container's root: %w", err)
		}
	}
	for _, link := range []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"} {
		if err := os.Symlink("usr/"+link, filepath.Join(dir, link)); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("containerizer: creating the container's root: %w", err)
		}
	}
	return nil
}

func (l *Linux) config(spec Spec, rootfs string) *configs.Config {
	const noexec = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV
	var rules []*devconfig.Rule
	for _, d := range specconv.AllowedDevices {
		rules = append(rules, &d.Rule)
	}
	res := &cgroups.Resources{Devices: rules}
	if spec.CPUs > 0 {
		res.CpuShares = uint64(max(spec.CPUs*1024, 2))
		if l.CFS {
			res.CpuPeriod = 100_000
			res.CpuQuota = int64(max(spec.CPUs*100_000, 1000))
		}
	}
	if spec.MemBytes > 0 {
		res.Memory, res.MemorySwap = spec.MemBytes, spec.MemBytes
	}
	if l.PidsLimit > 0 {
		limit := l.PidsLimit
		res.PidsLimit = &limit
	}
	ns := configs.Namespaces{{Type: configs.NEWNS}, {Type: configs.NEWUTS}, {Type: configs.NEWIPC}, {Type: configs.NEWPID}}
	var networks []*configs.Network
	switch {
	case l.IsolateNetwork && spec.NetNS != "":
		// Joined, not made: its loopback is up already.
		ns = append(ns, configs.Namespace{Type: configs.NEWNET, Path: spec.NetNS})
	case l.IsolateNetwork:
		ns = append(ns, configs.Namespace{Type: configs.NEWNET})
		networks = []*configs.Network{{Type: "loopback", Address: "127.0.0.1/0", Gateway: "localhost"}}
	}
	bind := func(src, dst string, ro bool) *configs.Mount {
		flags := unix.MS_BIND | unix.MS_REC
		if ro {
			flags |= unix.MS_RDONLY
		}
		return &configs.Mount{Source: src, Destination: dst, Device: "bind", Flags: flags}
	}
	mounts := []*configs.Mount{
		{Source: "proc", Destination: "/proc", Device: "proc", Flags: noexec},
		{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755"},
		{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620"},
		{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: noexec, Data: "mode=1777,size=65536k"},
		{Source: "mqueue", Destination: "/dev/mqueue", Device: "mqueue", Flags: noexec},
		{Source: "sysfs", Destination: "/sys", Device: "sysfs", Flags: noexec | unix.MS_RDONLY},
		{Source: "tmpfs", Destination: "/tmp", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		bind("/usr", "/usr", true),
		bind("/etc", "/etc", true),
		bind(spec.Dir, spec.Dir, false),
	}
	for _, m := range spec.Mounts {
		mounts = append(mounts, bind(m.Source, m.Destination, m.ReadOnly))
	}
	caps := &configs.Capabilities{Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps}
	return &configs.Config{
		Rootfs:          rootfs,
		Capabilities:    caps,
		Namespaces:      ns,
		Networks:        networks,
		Mounts:          mounts,
		Devices:         specconv.AllowedDevices,
		Hostname:        spec.Hostname,
		NoNewPrivileges: true,
		MaskPaths:       []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
		ReadonlyPaths:   []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"},
		Cgroups: &cgroups.Cgroup{
			Path:      filepath.Join(l.CgroupParent, spec.ID),
			Resources: res,
		},
	}
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
