package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/images"
	"github.com/corral-sched/corral/images/store"
	"github.com/corral-sched/corral/internal/periodic"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Images (issue 19): with --image-providers docker, a task whose
// ContainerInfo names an image runs in a root made from it by the image
// provisioner (package images), which filesystem/linux asks for the
// root and docker/runtime for the image's config. The pull happens in
// the launch's goroutine; its progress reaches the framework as
// TASK_STARTING updates. The store is garbage-collected now and then by
// ImageGC.

// ImageGC says when unused images leave the store (Mesos'
// --image_gc_config, in corral's terms): least recently used first, while
// the store is over Budget or once unused for MaxUnused, never an image a
// container uses, one used within KeepRecent or an Excluded one.
type ImageGC struct {
	// Budget is the disk the store's layers may take, in bytes; 0: none.
	Budget int64
	// KeepRecent keeps images used this recently even over budget.
	KeepRecent time.Duration
	// MaxUnused removes images unused this long even under budget; 0:
	// never by age alone.
	MaxUnused time.Duration
	// Interval is how often the store is collected (default 1 minute).
	Interval time.Duration
	// Excluded names images never collected.
	Excluded []string
}

// imageProgressInterval is the least time between two TASK_STARTING
// updates with a pull's progress: a few a second, not one per chunk read.
const imageProgressInterval = 300 * time.Millisecond

// setImageDefaults checks the image flags and completes them; with
// images on a linux agent, docker/runtime joins the isolation (Mesos
// needs it listed; corral implies it, as images mean nothing without it).
func (c *Config) setImageDefaults() error {
	for _, p := range c.ImageProviders {
		if p != "docker" {
			return fmt.Errorf("agent: config: image provider %q: corral provisions docker (and OCI) images only; APPC is not supported", p)
		}
	}
	if c.ImageProvisionerBackend == "" {
		c.ImageProvisionerBackend = "overlay"
	}
	if c.ImageProvisionerBackend != "overlay" && c.ImageProvisionerBackend != "copy" {
		return fmt.Errorf("agent: config: image provisioner backend %q: use overlay or copy", c.ImageProvisionerBackend)
	}
	g := &c.ImageGC
	if c.DockerPullTimeout < 0 || g.Budget < 0 || g.KeepRecent < 0 || g.MaxUnused < 0 || g.Interval < 0 {
		return errors.New("agent: config: the docker pull timeout and the image GC settings must not be negative")
	}
	if g.Interval == 0 {
		g.Interval = time.Minute
	}
	if len(c.ImageProviders) == 0 {
		return nil
	}
	if c.DockerStoreDir == "" {
		c.DockerStoreDir = filepath.Join(c.WorkDir, "store", "docker")
	}
	abs, err := filepath.Abs(c.DockerStoreDir)
	if err != nil {
		return fmt.Errorf("agent: config: DockerStoreDir %q: %w", c.DockerStoreDir, err)
	}
	c.DockerStoreDir = abs
	if c.isolation.Has("filesystem/linux") && !c.isolation.Has("docker/runtime") {
		sel, err := isolators.Expand(c.isolation.String()+",docker/runtime", isolators.Env{Linux: containerizer.LinuxAvailable()})
		if err != nil {
			return fmt.Errorf("agent: config: images: %w", err)
		}
		c.isolation = sel
	}
	return nil
}

// newProvisioner opens the image store, when the agent provisions images
// and has the filesystem/linux isolator they need; elsewhere tasks with
// images fail, saying what is missing.
func newProvisioner(cfg Config, reg prometheus.Registerer) (*images.Provisioner, error) {
	if len(cfg.ImageProviders) == 0 || cfg.isolation.Sim {
		return nil, nil
	}
	if !cfg.isolation.Has("filesystem/linux") {
		cfg.Logger.Warn("images need the filesystem/linux isolator: tasks with images will fail here", "isolation", cfg.isolation.String())
		return nil, nil
	}
	p, err := images.New(images.Options{StoreDir: cfg.DockerStoreDir, Backend: cfg.ImageProvisionerBackend,
		Registry: cfg.DockerRegistry, DockerConfig: cfg.DockerConfig, InsecureRegistries: cfg.DockerInsecureRegistries,
		PullTimeout: cfg.DockerPullTimeout, Registerer: reg, Log: cfg.Logger.With("component", "images")})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return p, nil
}

// collectImages garbage-collects the image store by the ImageGC policy
// until ctx ends.
func (a *Agent) collectImages(ctx context.Context) {
	if a.images == nil {
		return
	}
	g := a.cfg.ImageGC
	policy := store.GCPolicy{Budget: g.Budget, KeepRecent: g.KeepRecent, MaxUnused: g.MaxUnused, Excluded: g.Excluded}
	periodic.Every(ctx, g.Interval, func() bool {
		if _, err := a.images.GC(policy); err != nil {
			a.log.Warn("collecting the image store", "err", err)
		}
		return true
	})
}

// launchProgress is the Report of t's launch: each message (a pull's
// progress) becomes a TASK_STARTING update with it, carried from the
// pulling goroutines to the loop, a few a second at most (latest).
func (a *Agent) launchProgress(t *taskRun) func(string) {
	l := &latest{interval: imageProgressInterval, send: func(msg string) {
		a.post(func() {
			if t.life.Phase() != lifecycle.Launching {
				return // launched, failed or gone meanwhile
			}
			_ = a.update(t, mesospb.TaskState_TASK_STARTING, nil, msg)
		})
	}}
	return l.offer
}

// latest passes messages on at most one per interval: the first at once,
// then, when the interval is over, the newest of those that came
// meanwhile (the others are stale by then).
type latest struct {
	interval time.Duration
	send     func(string)

	mu      sync.Mutex
	last    time.Time   // guarded by mu
	pending string      // guarded by mu
	timer   *time.Timer // guarded by mu
}

func (l *latest) offer(msg string) {
	l.mu.Lock()
	if l.timer != nil { // the newest waits for the held-back one's turn
		l.pending = msg
		l.mu.Unlock()
		return
	}
	if wait := l.interval - time.Since(l.last); wait > 0 {
		l.pending, l.timer = msg, time.AfterFunc(wait, l.flush)
		l.mu.Unlock()
		return
	}
	l.last = time.Now()
	l.mu.Unlock()
	l.send(msg)
}

func (l *latest) flush() {
	l.mu.Lock()
	msg := l.pending
	l.pending, l.timer, l.last = "", nil, time.Now()
	l.mu.Unlock()
	l.send(msg)
}

// hasImage reports whether a container's root comes from an image (and
// so sees its sandbox at /mnt/mesos/sandbox).
func hasImage(info *mesospb.ContainerInfo) bool {
	return isolators.HasImage(info)
}

// imageEnv adapts an executor's environment to a root from an image: the
// sandbox is at /mnt/mesos/sandbox there, and PATH is the image's
// (docker/runtime sets it), not the agent's, which comes first.
func imageEnv(env []string, sandbox string) []string {
	out := make([]string, 0, len(env))
	droppedPath := false
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case name == "PATH" && !droppedPath:
			droppedPath = true
			continue
		case value == sandbox && slices.Contains([]string{"MESOS_SANDBOX", "HOME", "CORRAL_SANDBOX"}, name):
			kv = name + "=" + isolators.ContainerSandbox
		}
		out = append(out, kv)
	}
	return out
}
