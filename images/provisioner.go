//go:build linux

package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/corral-sched/corral/images/internal/flight"
	"github.com/corral-sched/corral/images/pull"
	"github.com/corral-sched/corral/images/rootfs"
	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/images/store"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// Options mirror the agent's image flags.
type Options struct {
	StoreDir           string        // --docker-store-dir
	Backend            string        // --image-provisioner-backend: overlay (default) or copy
	Registry           string        // --docker-registry: URL, host[:port] or archive directory
	DockerConfig       string        // --docker-config: path or JSON
	InsecureRegistries []string      // --docker-insecure-registries
	PullTimeout        time.Duration // --docker-pull-timeout: bounds one pull; 0 = none
	// MaxLayerBytes bounds one layer's unpacked size (0: no bound).
	MaxLayerBytes int64
	// PullJobs is how many layers of one image download at once (3 when 0).
	PullJobs   int
	Transport  http.RoundTripper // registry requests; tests count them here
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
}

// ProvisionOptions shape one Provision.
type ProvisionOptions struct {
	// Fresh looks the name up in the registry again even if the store has
	// resolved it before (Mesos' Image.cached: false). Layers already in
	// the store are still not downloaded again.
	Fresh bool
	// Progress, if set, hears how the pull goes (not called when the
	// image needs no pull).
	Progress func(Progress)
}

// Config is the image a root filesystem was made from.
type Config struct {
	ID      string // the image's ID in the store
	Name    string // as asked for
	Runtime runtime.Image
	File    *v1.ConfigFile
}

// Provisioner provisions root filesystems from images.
type Provisioner struct {
	opts     Options
	puller   *pull.Puller
	store    *store.Store
	backend  rootfs.Backend
	fallback string // why overlay was not used, "" if it was (or not asked for)
	metrics  *metrics
	log      *slog.Logger

	pulls flight.Group[*store.Image]
	mu    sync.Mutex
	fans  map[string]*progressFanout // per pull key; guarded by mu
}

// New opens the store and sets up the backend: overlay unless asked for
// copy, falling back to copy (and saying why) when an overlay cannot be
// mounted over the store's filesystem.
func New(opts Options) (*Provisioner, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("images: no store directory")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.PullJobs <= 0 {
		opts.PullJobs = 3
	}
	p := &Provisioner{opts: opts, log: opts.Log, fans: map[string]*progressFanout{}}
	puller, err := pull.New(pull.Options{Registry: opts.Registry, DockerConfig: opts.DockerConfig,
		InsecureRegistries: opts.InsecureRegistries, Transport: opts.Transport})
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	p.puller = puller
	name := opts.Backend
	if name == "" {
		name = "overlay"
	}
	if name == "overlay" {
		if err := rootfs.Probe(filepath.Join(opts.StoreDir, "rootfs")); err != nil {
			p.fallback = fmt.Sprintf("overlayfs cannot be mounted over %s (%v); root filesystems are copied instead", opts.StoreDir, err)
			p.log.Warn("image provisioner backend falls back to copy", "reason", p.fallback)
			name = "copy"
		}
	}
	backend, err := rootfs.New(name, filepath.Join(opts.StoreDir, "rootfs", name))
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	p.backend = backend
	p.store, err = store.Open(store.Options{Dir: opts.StoreDir, Format: backend.LayerFormat(),
		MaxLayerBytes: opts.MaxLayerBytes, Now: opts.Now, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	p.metrics, err = newMetrics(opts.Registerer,
		func() float64 { return float64(p.store.Size()) },
		func() float64 { l, _, _ := p.store.Counts(); return float64(l) })
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Backend names the backend in use, and why it is not overlay when
// overlay was asked for and could not be used.
func (p *Provisioner) Backend() (name, fallback string) { return p.backend.Name(), p.fallback }

// Store is the provisioner's image store.
func (p *Provisioner) Store() *store.Store { return p.store }

// Provision gives container id a root filesystem from image and returns
// its path and the image's config. A container provisioned before (its
// reference is in the store) gets its existing root back.
func (p *Provisioner) Provision(ctx context.Context, id, image string, o ProvisionOptions) (string, *Config, error) {
	release := p.store.Busy()
	defer release()
	if c, ok := p.store.Container(id); ok {
		return p.attach(c)
	}
	key, err := p.puller.Key(image)
	if err != nil {
		return "", nil, err
	}
	img, ok := p.store.Lookup(key)
	if ok && !o.Fresh {
		p.metrics.hits.WithLabelValues("image").Inc()
	} else {
		if img, err = p.pull(ctx, key, image, o); err != nil {
			return "", nil, err
		}
	}
	cfg, err := configOf(img, image)
	if err != nil {
		return "", nil, err
	}
	c, err := p.store.Ref(id, img.ID)
	if err != nil {
		return "", nil, fmt.Errorf("image %s for container %s: %w", image, id, err)
	}
	dirs, err := p.layerDirs(c)
	if err == nil {
		var root string
		if root, err = p.backend.Create(id, dirs); err == nil {
			return root, cfg, nil
		}
	}
	if uerr := p.store.Unref(id); uerr != nil {
		p.log.Warn("image reference not dropped after a failed provision", "container", id, "err", uerr)
	}
	return "", nil, fmt.Errorf("image %s for container %s: %w", image, id, err)
}

func (p *Provisioner) attach(c *store.Container) (string, *Config, error) {
	img, ok := p.store.Image(c.Image)
	if !ok {
		return "", nil, fmt.Errorf("container %s: its image %s is no longer in the store", c.ID, c.Image)
	}
	dirs, err := p.layerDirs(c)
	if err != nil {
		return "", nil, err
	}
	root, err := p.backend.Attach(c.ID, dirs)
	if err != nil {
		return "", nil, err
	}
	name := ""
	if len(img.Names) > 0 {
		name = img.Names[0]
	}
	cfg, err := configOf(img, name)
	return root, cfg, err
}

func (p *Provisioner) layerDirs(c *store.Container) ([]string, error) {
	dirs := make([]string, 0, len(c.Layers))
	for _, l := range c.Layers {
		d, err := p.store.LayerDir(l)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// Destroy removes container id's root filesystem (unmounting it) and
// then its reference, so that its layers can be collected.
func (p *Provisioner) Destroy(id string) error {
	if err := p.backend.Remove(id); err != nil {
		return err
	}
	return p.store.Unref(id)
}

// Recover reconciles the store and the root filesystems with the
// containers still alive after an agent restart: references and roots of
// any other container are removed, and the roots of the alive ones are
// re-attached (re-mounted if a reboot unmounted them).
func (p *Provisioner) Recover(alive []string) error {
	gone, err := p.store.Recover(alive)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range gone {
		if err := p.backend.Remove(c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	keep := map[string]bool{}
	for _, id := range alive {
		keep[id] = true
	}
	ids, err := p.backend.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if _, ok := p.store.Container(id); ok && keep[id] {
			continue
		}
		p.log.Info("removing the root filesystem of a container that is gone", "container", id)
		if err := p.backend.Remove(id); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range p.store.Containers() {
		if _, _, err := p.attach(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// GC collects images by policy.
func (p *Provisioner) GC(policy store.GCPolicy) (store.GCResult, error) {
	res, err := p.store.GC(policy)
	p.metrics.gcRemoved.Add(float64(res.Layers))
	if len(res.Images) > 0 {
		p.log.Info("image store collected", "images", len(res.Images), "layers", res.Layers, "freed_bytes", res.Freed, "size_bytes", res.Size)
	}
	return res, err
}

// configOf reads the runtime part of img's config.
func configOf(img *store.Image, name string) (*Config, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(img.Config))
	if err != nil {
		return nil, fmt.Errorf("image %s: its config: %w", name, err)
	}
	c := cf.Config
	return &Config{ID: img.ID, Name: name, File: cf, Runtime: runtime.Image{
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User,
	}}, nil
}
