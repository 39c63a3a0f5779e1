package isolators

import (
	"context"

	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Container is one container as the isolators see it. It is rebuilt from
// the agent's checkpoint after a restart, so everything here must follow
// from the task (or executor) and the agent's configuration.
type Container struct {
	// ID is the container's ID (the task's MESOS_CONTAINER_ID).
	ID string
	// Sandbox is the host path of the sandbox: the working directory,
	// bind-mounted at the same path inside a container with a root of its
	// own.
	Sandbox string
	// User runs the process; "" is the agent's user.
	User   string
	Limits Limits
	// Volumes the task asked for: persistent volumes (Source set by the
	// agent) and ContainerInfo volumes (Source set by the volume
	// isolators).
	Volumes []Volume
	// Info is the framework's ContainerInfo, if any.
	Info *mesospb.ContainerInfo
	// NetNS, when set, is the network namespace the container joins (the
	// tasks of a group share one) instead of making its own.
	NetNS string
	// Pid is the container's main process on the host, once started.
	Pid int
	// Command is the task's (or executor's) command, for docker/runtime
	// to combine with an image's Entrypoint and Cmd by Mesos' rules.
	Command *mesospb.CommandInfo
	// Report, when set, hears what a long Prepare is doing (pulling an
	// image), for the task's TASK_STARTING updates; it is nil after a
	// restart.
	Report func(message string)
}

// Limits are a container's resources.
type Limits struct {
	CPUs      float64
	MemBytes  int64
	DiskBytes int64
}

// Volume is a directory made to appear in the container.
type Volume struct {
	// Source is the host directory; "" until an isolator resolves it.
	Source string
	// Target is where it appears: a path relative to the sandbox, or an
	// absolute path inside a container with a root of its own.
	Target   string
	ReadOnly bool
	// Kind says who resolves Source: the agent (persistent volumes) or
	// the isolator for that kind of ContainerInfo volume.
	Kind VolumeKind
	// Path is the source as the task named it: a host path (HOST_PATH), a
	// path in the sandbox (SANDBOX_PATH).
	Path string
}

// VolumeKind is where a volume comes from.
type VolumeKind string

// Kinds of volumes.
const (
	PersistentVolume  VolumeKind = "persistent"
	SandboxPathVolume VolumeKind = "sandbox_path"
	HostPathVolume    VolumeKind = "host_path"
)

// Launch is what the isolators make of a container before it exists
// (Mesos' ContainerLaunchInfo); the launcher turns it into a container.
type Launch struct {
	// Rootfs is the container's root file system; "" keeps the host's.
	Rootfs     string
	Namespaces []Namespace
	Mounts     []Mount
	// Cgroups, when set, puts the container in cgroups of its own with
	// these limits.
	Cgroups  *Cgroups
	Process  Process
	Hostname string
	// Image, when the root comes from an image, is that image: its name
	// and the config docker/runtime applies to Process.
	Image *Image
	// Sandbox is where the sandbox appears in the container; "" is at its
	// host path.
	Sandbox string
	// Shell is the argv prefix that runs a shell script in the container
	// (the exit-status wrapper's); nil is /bin/sh.
	Shell []string
}

// Image is the image a container's root was made from.
type Image struct {
	Name   string
	Config runtime.Image
}

// Namespace is a namespace the container gets: a new one, or the one at
// Path.
type Namespace struct {
	Type NamespaceType
	Path string
}

// NamespaceType names a kind of Linux namespace.
type NamespaceType string

// Kinds of namespaces.
const (
	PIDNamespace     NamespaceType = "pid"
	IPCNamespace     NamespaceType = "ipc"
	UTSNamespace     NamespaceType = "uts"
	MountNamespace   NamespaceType = "mount"
	NetworkNamespace NamespaceType = "net"
)

// Has reports whether the launch asks for a namespace of type t.
func (l *Launch) Has(t NamespaceType) bool {
	for _, n := range l.Namespaces {
		if n.Type == t {
			return true
		}
	}
	return false
}

// Mount is a file system mounted into the container.
type Mount struct {
	Source      string
	Destination string
	// Type is the file system type; "bind" for a bind mount.
	Type string
	// Options are OCI's mount options: flags ("rbind", "ro", "nosuid",
	// "noexec", "nodev", "strictatime") and the file system's own data
	// ("mode=755").
	Options []string
}

// Bind is a recursive bind mount of source at destination.
func Bind(source, destination string, readOnly bool) Mount {
	opts := []string{"rbind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	return Mount{Source: source, Destination: destination, Type: "bind", Options: opts}
}

// Cgroups are a container's cgroup limits; a zero value leaves that
// limit unset.
type Cgroups struct {
	CPUShares uint64
	// CPUQuota µs per CPUPeriod µs is a hard CFS limit.
	CPUQuota  int64
	CPUPeriod uint64
	// Memory and MemorySwap in bytes (equal: no swap beyond the limit).
	Memory     int64
	MemorySwap int64
	PidsLimit  int64
	// Devices restricts device access to the default allow-list.
	Devices bool
}

// Process is what runs in the container.
type Process struct {
	Args []string
	Env  []string
	// Cwd is the working directory as the container sees it.
	Cwd  string
	User string
}

// Usage is what a container uses now.
type Usage struct {
	CPUSeconds  float64
	MemoryBytes uint64
	DiskBytes   uint64
	Processes   int
}

// Add merges what another isolator measured: each measures its own.
func (u Usage) Add(o Usage) Usage {
	return Usage{CPUSeconds: u.CPUSeconds + o.CPUSeconds, MemoryBytes: u.MemoryBytes + o.MemoryBytes,
		DiskBytes: u.DiskBytes + o.DiskBytes, Processes: u.Processes + o.Processes}
}

// Limitation is a limit a container hit: the reason its task fails.
type Limitation struct {
	// Resource is the resource's name: "mem", "disk".
	Resource string
	Reason   mesospb.TaskStatus_Reason
	Message  string
}

// Isolator is one concern of a container.
type Isolator interface {
	// Name is Mesos' name for it, as --isolation spells it.
	Name() string
	// Prepare adds the isolator's part to the container's Launch, before
	// the container exists.
	Prepare(ctx context.Context, c *Container, l *Launch) error
}

// Isolater acts on a container's process once it has started (c.Pid).
type Isolater interface {
	Isolate(ctx context.Context, c *Container) error
}

// Watcher reports the limits a running container hits. The channel is
// closed once ctx ends (the container is gone).
type Watcher interface {
	Watch(ctx context.Context, c *Container) <-chan Limitation
}

// ExitChecker decides, once the process is gone but before the container
// is destroyed, whether the exit was a limitation (the OOM killer).
type ExitChecker interface {
	Exited(c *Container) *Limitation
}

// Usager measures a running container.
type Usager interface {
	Usage(ctx context.Context, c *Container) (Usage, error)
}

// Updater applies a running container's new Limits.
type Updater interface {
	Update(ctx context.Context, c *Container) error
}

// Cleaner undoes what the isolator made for a container that is gone.
type Cleaner interface {
	Cleanup(ctx context.Context, c *Container) error
}

// Recoverer takes back, after an agent restart, the containers still
// alive, and cleans up what it made for any other.
type Recoverer interface {
	Recover(ctx context.Context, alive []*Container) error
}
