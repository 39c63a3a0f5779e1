package containerizer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/corral-sched/corral/images"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/isolators/filesystem"
)

// provisioner is the agent's image provisioner as filesystem/linux calls
// it.
type provisioner struct{ p *images.Provisioner }

var _ filesystem.Images = provisioner{}

func (a provisioner) Provision(ctx context.Context, id string, ref isolators.ImageRef, report func(string)) (string, *isolators.Image, error) {
	var progress func(images.Progress)
	if report != nil {
		progress = func(p images.Progress) { report(p.String()) }
	}
	root, cfg, err := a.p.Provision(ctx, id, ref.Name, images.ProvisionOptions{Fresh: ref.Fresh, Progress: progress})
	if err != nil {
		return "", nil, err
	}
	return root, &isolators.Image{Name: ref.Name, Config: cfg.Runtime}, nil
}

func (a provisioner) Destroy(id string) error { return a.p.Destroy(id) }

func (a provisioner) Recover(alive []string) error { return a.p.Recover(alive) }

// imageProblem says why spec's image cannot run here, or "": images need
// a root of their own (filesystem/linux) and a provisioner. It is checked
// before anything is made, so that the task fails naming what is missing.
func (c *Containerizer) imageProblem(spec Spec) (*isolators.ImageRef, error) {
	ref, err := isolators.ImageOf(spec.Info)
	switch {
	case err != nil || ref == nil:
		return nil, err
	case !c.sel.Has("filesystem/linux"):
		return nil, fmt.Errorf("image %s: images need the filesystem/linux isolator, which this agent does not run (its isolation: %s)", ref.Name, c.sel)
	case !c.images:
		return nil, fmt.Errorf("image %s: this agent provisions no images (start it with --image-providers docker)", ref.Name)
	}
	return ref, nil
}

// linuxFilesystem is filesystem/linux, with the image provisioner when
// the agent has one, and the shell bundle the exit-status wrapper of an
// image's container runs with (without it, the wrapper needs the image's
// own /bin/sh).
func (c *Containerizer) linuxFilesystem(cfg Config) *filesystem.Linux {
	f := &filesystem.Linux{Root: filepath.Join(cfg.Root, "rootfs")}
	if cfg.Images == nil {
		return f
	}
	f.Images = provisioner{cfg.Images}
	shell, err := filesystem.NewShellBundle(filepath.Join(cfg.Root, "shell"))
	if err != nil {
		c.log.Warn("containers from images will need a /bin/sh of their own for the exit-status wrapper", "err", err)
	}
	f.Shell = shell
	return f
}
