package containerizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/corral-sched/corral/images"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/isolators/cgroups"
	"github.com/corral-sched/corral/isolators/disk"
	"github.com/corral-sched/corral/isolators/docker"
	"github.com/corral-sched/corral/isolators/filesystem"
	"github.com/corral-sched/corral/isolators/namespaces"
	"github.com/corral-sched/corral/isolators/posix"
	"github.com/corral-sched/corral/isolators/volumes"
)

// Config is what a Containerizer needs.
type Config struct {
	// Isolation is the agent's expanded --isolation list.
	Isolation isolators.Selection
	// Root holds the containers' runtime state and roots (the agent's
	// work dir/containers); SandboxRoot holds the sandboxes (work
	// dir/agents), where recovery looks for posix containers.
	Root, SandboxRoot string
	// Hostname is the agent's: containers with a UTS namespace that name
	// none get it.
	Hostname string
	// CgroupsRoot, CFS and PidsLimit configure the cgroups isolators.
	CgroupsRoot string
	CFS         bool
	PidsLimit   int64
	// AllowedHostPaths are what volume/host_path may mount.
	AllowedHostPaths []string
	// DiskInterval and EnforceDisk configure disk/du.
	DiskInterval time.Duration
	EnforceDisk  bool
	// CNI configures network/cni.
	CNI *CNI
	// Images, if set, provisions the roots of containers whose
	// ContainerInfo names an image (filesystem/linux asks it).
	Images *images.Provisioner
	Logger *slog.Logger
}

// New builds the isolators of cfg.Isolation and the launcher they need.
func New(cfg Config) (*Containerizer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Containerizer{sel: cfg.Isolation, sandboxRoot: cfg.SandboxRoot, log: cfg.Logger, images: cfg.Images != nil}
	switch {
	case cfg.Isolation.Sim:
		c.launcher = Sim{}
		return c, nil
	case cfg.Isolation.Linux():
		c.launcher = &Linux{Root: filepath.Join(cfg.Root, "state"), CgroupParent: cfg.CgroupsRoot}
	default:
		c.launcher = Posix{}
	}
	cg := cgroups.Options{Parent: cfg.CgroupsRoot, CFS: cfg.CFS, PidsLimit: cfg.PidsLimit, V2: CgroupV2()}
	var network isolators.Isolator
	if cfg.Isolation.Has("network/cni") {
		iso, err := newCNI(cfg)
		if err != nil {
			return nil, err
		}
		network = iso
	}
	factories := map[string]func() isolators.Isolator{
		"volume/sandbox_path": func() isolators.Isolator { return volumes.SandboxPath{} },
		"volume/host_path":    func() isolators.Isolator { return volumes.HostPath{Allowed: cfg.AllowedHostPaths} },
		"filesystem/posix":    func() isolators.Isolator { return filesystem.Posix{} },
		"filesystem/linux":    func() isolators.Isolator { return c.linuxFilesystem(cfg) },
		"docker/runtime":      func() isolators.Isolator { return docker.Runtime{} },
		"namespaces/pid":      func() isolators.Isolator { return namespaces.NewPID() },
		"namespaces/ipc":      func() isolators.Isolator { return namespaces.NewIPC() },
		"namespaces/uts":      func() isolators.Isolator { return namespaces.NewUTS(cfg.Hostname) },
		"namespaces/net":      func() isolators.Isolator { return namespaces.NewNet() },
		"network/cni":         func() isolators.Isolator { return network },
		"cgroups/cpu":         func() isolators.Isolator { return cgroups.NewCPU(cg) },
		"cgroups/mem":         func() isolators.Isolator { return cgroups.NewMemory(cg) },
		"cgroups/pids":        func() isolators.Isolator { return cgroups.NewPids(cg) },
		"cgroups/devices":     func() isolators.Isolator { return cgroups.Devices{} },
		"posix/cpu":           func() isolators.Isolator { return posix.NewCPU() },
		"posix/mem":           func() isolators.Isolator { return posix.NewMem() },
		"disk/du":             func() isolators.Isolator { return &disk.DU{Interval: cfg.DiskInterval, Enforce: cfg.EnforceDisk} },
	}
	for _, name := range cfg.Isolation.Names {
		f, ok := factories[name]
		if !ok {
			return nil, fmt.Errorf("containerizer: no isolator %q in this build", name)
		}
		c.isolators = append(c.isolators, f())
	}
	return c, nil
}

// Isolation is the isolators this containerizer runs.
func (c *Containerizer) Isolation() isolators.Selection { return c.sel }

// MountsVolumes reports whether volumes are mounted into containers
// (with their modes, at absolute paths too), rather than linked into
// sandboxes.
func (c *Containerizer) MountsVolumes() bool { return c.sel.Has("filesystem/linux") }

// OwnNetwork reports whether containers have a network namespace of
// their own: their ports are not the host's, so the agent reaches them
// (health checks) from inside, and the tasks of a group share one.
func (c *Containerizer) OwnNetwork() bool { return c.sel.Has("namespaces/net") }

// Recovered is a container a previous agent started, as its checkpoint
// describes it; Pid is 0 where the checkpoint never learned the process.
type Recovered struct {
	Spec      Spec
	Pid       int
	StartTime uint64
}

// Recover takes back the containers a previous agent started: those in
// list still running are returned by ID (missing: gone, their leftovers
// cleaned up); containers on the host that nothing in list names are
// killed. Then each isolator recovers the survivors.
func (c *Containerizer) Recover(ctx context.Context, list []Recovered) map[string]*Process {
	found := c.launcher.Containers(c.sandboxRoot)
	procs := make(map[string]*Process, len(list))
	named := make(map[string]bool, len(list))
	var alive []*isolators.Container
	held := &heldCleanups{fns: make(map[string]func())}
	for _, r := range list {
		named[r.Spec.ID] = true
		pid, start := r.Pid, r.StartTime
		if f, ok := found[r.Spec.ID]; ok && pid == 0 {
			// The container started, but the checkpoint naming its
			// process was never written (a full disk, a crash between).
			pid, start = f.Pid, f.StartTime
		}
		ic := &isolators.Container{ID: r.Spec.ID, Sandbox: r.Spec.Sandbox, User: r.Spec.User, Limits: r.Spec.Limits,
			Volumes: r.Spec.Volumes, Info: r.Spec.Info, NetNS: r.Spec.NetNS}
		w := &watch{}
		st := c.start(r.Spec, ic, nil, w)
		st.Destroyed = held.wrap(r.Spec.ID, st.Destroyed)
		proc, err := c.launcher.Recover(st, pid, start)
		if err != nil {
			held.run(r.Spec.ID) // gone already: cleaned up now, as before the isolators recover
			if !errors.Is(err, ErrGone) {
				c.log.Warn("could not recover a container", "container", r.Spec.ID, "err", err)
			}
			continue
		}
		ic.Pid = proc.Pid
		c.attach(proc, ic, w)
		procs[r.Spec.ID] = proc
		alive = append(alive, ic)
	}
	for id, f := range found {
		if named[id] {
			continue
		}
		ic := &isolators.Container{ID: id}
		proc, err := c.launcher.Recover(c.start(Spec{ID: id}, ic, nil, &watch{}), f.Pid, f.StartTime)
		if err != nil {
			continue // nothing runs; its leftovers are gone now
		}
		c.log.Warn("killing a container that no checkpoint names", "container", id, "pid", f.Pid)
		if err := proc.Signal(syscall.SIGKILL); err != nil {
			c.log.Warn("could not kill an orphan container", "container", id, "err", err)
			continue
		}
		<-proc.Done() // gone before the isolators recover: they clean up what it leaves
	}
	for _, iso := range c.isolators {
		if r, ok := iso.(isolators.Recoverer); ok {
			if err := r.Recover(ctx, alive); err != nil {
				c.log.Warn("recovering an isolator", "isolator", iso.Name(), "err", err)
			}
		}
	}
	held.open()
	for _, ic := range alive {
		procs[ic.ID].networks = c.networkInfos(ic) // known once the isolators have recovered
	}
	return procs
}

// heldCleanups holds back the cleanup of recovered containers that end
// before the isolators have recovered: an isolator learns what it has to
// undo (a CNI attachment, say) in its Recover, so a cleanup run before it
// would find nothing to undo and leak it.
type heldCleanups struct {
	mu     sync.Mutex
	opened bool
	fns    map[string]func()
}

// wrap returns destroy, held back until open while the isolators have
// not recovered.
func (h *heldCleanups) wrap(id string, destroy func()) func() {
	if destroy == nil {
		return nil
	}
	return func() {
		h.mu.Lock()
		if !h.opened {
			h.fns[id] = destroy
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		destroy()
	}
}

// run runs id's cleanup now if it is held.
func (h *heldCleanups) run(id string) {
	h.mu.Lock()
	f := h.fns[id]
	delete(h.fns, id)
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

// open runs every held cleanup and lets later ones run at once.
func (h *heldCleanups) open() {
	h.mu.Lock()
	h.opened = true
	fns := h.fns
	h.fns = nil
	h.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
