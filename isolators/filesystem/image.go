package filesystem

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/corral-sched/corral/isolators"
)

// Images gives containers root file systems made from images: the
// agent's image provisioner (package images), seen through the calls
// filesystem/linux makes.
type Images interface {
	// Provision gives container id a root made from ref and returns its
	// path and the image; report, if set, hears how a pull goes.
	Provision(ctx context.Context, id string, ref isolators.ImageRef, report func(string)) (string, *isolators.Image, error)
	// Destroy removes container id's root (unmounting it); a container
	// without one is no error.
	Destroy(id string) error
	// Recover keeps the roots of the alive containers and removes the
	// others', after an agent restart.
	Recover(alive []string) error
}

// prepareImage gives c the root ref names, as Mesos' filesystem/linux
// does with the provisioner's: the image's files instead of the host's
// /usr and /etc, the sandbox at /mnt/mesos/sandbox, volumes mounted into
// the image's root (relative container paths in the sandbox), and the
// agent's shell bundle for the exit-status wrapper, which must not depend
// on the image having a shell.
func (f *Linux) prepareImage(ctx context.Context, c *isolators.Container, l *isolators.Launch, ref *isolators.ImageRef) error {
	if f.Images == nil {
		return fmt.Errorf("image %s: this agent provisions no images (start it with --image-providers docker)", ref.Name)
	}
	// Everything that can be refused is, before the provision: a
	// container that fails here is not cleaned up by this isolator.
	var mounts []isolators.Mount
	for _, m := range systemMounts() {
		if m.Destination != "/tmp" { // the image's own /tmp, as Docker keeps it
			mounts = append(mounts, m)
		}
	}
	mounts = append(mounts, isolators.Bind(c.Sandbox, isolators.ContainerSandbox, false))
	// The host's name resolution, for containers on the host's network
	// (a network isolator binds its own over these).
	for _, p := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			mounts = append(mounts, isolators.Bind(p, p, true))
		}
	}
	for _, v := range c.Volumes {
		if v.Source == "" {
			return unresolved(v)
		}
		dst := v.Target
		if !filepath.IsAbs(dst) {
			dst = filepath.Join(isolators.ContainerSandbox, dst)
		}
		mounts = append(mounts, isolators.Bind(v.Source, filepath.Clean(dst), v.ReadOnly))
	}
	root, img, err := f.Images.Provision(ctx, c.ID, *ref, c.Report)
	if err != nil {
		return err
	}
	l.Rootfs, l.Image, l.Sandbox = root, img, isolators.ContainerSandbox
	l.Namespaces = append(l.Namespaces, isolators.Namespace{Type: isolators.MountNamespace})
	l.Process.Cwd = isolators.ContainerSandbox
	l.Mounts = append(l.Mounts, mounts...)
	if f.Shell != nil {
		l.Mounts = append(l.Mounts, isolators.Bind(f.Shell.Dir, ShellMount, true))
		l.Shell = f.Shell.Argv
	}
	return nil
}
