// Package filesystem holds the isolators that decide what file system a
// container sees. filesystem/linux gives it a root of its own: an empty
// directory with the host's /usr and /etc read-only (and /bin, /lib, ...
// linked into /usr), fresh /proc, /dev, /sys and /tmp, the sandbox
// read-write at its host path, and each volume bind-mounted with its mode;
// or, when its ContainerInfo names an image, the image provisioner's root
// with the sandbox at /mnt/mesos/sandbox (image.go).
// filesystem/posix, Mesos' default, leaves the container on the host's
// file system and makes volumes appear as links in the sandbox (read-only
// cannot be enforced there).
package filesystem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/corral-sched/corral/isolators"
)

// target is where a volume appears: relative targets are in the sandbox.
func target(c *isolators.Container, v isolators.Volume) string {
	if filepath.IsAbs(v.Target) {
		return filepath.Clean(v.Target)
	}
	return filepath.Join(c.Sandbox, v.Target)
}

// unresolved names the isolator a volume needed.
func unresolved(v isolators.Volume) error {
	switch v.Kind {
	case isolators.HostPathVolume:
		return fmt.Errorf("HOST_PATH volume %q needs the volume/host_path isolator, which this agent does not run", v.Target)
	case isolators.SandboxPathVolume:
		return fmt.Errorf("SANDBOX_PATH volume %q needs the volume/sandbox_path isolator, which this agent does not run", v.Target)
	}
	return fmt.Errorf("volume %q has no source", v.Target)
}

// Posix is filesystem/posix.
type Posix struct{}

var _ isolators.Isolator = Posix{}

// Name is Mesos' name.
func (Posix) Name() string { return "filesystem/posix" }

// Prepare links each volume into the sandbox. An absolute container path
// cannot be honoured on the host's file system.
func (Posix) Prepare(_ context.Context, c *isolators.Container, l *isolators.Launch) error {
	l.Process.Cwd = c.Sandbox
	for _, v := range c.Volumes {
		if v.Source == "" {
			return unresolved(v)
		}
		if filepath.IsAbs(v.Target) {
			return fmt.Errorf("volume %q: an absolute container path needs the filesystem/linux isolator", v.Target)
		}
		link := target(c, v)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fmt.Errorf("volume %q: %w", v.Target, err)
		}
		if err := os.Symlink(v.Source, link); err != nil && !(errors.Is(err, os.ErrExist) && pointsAt(link, v.Source)) {
			return fmt.Errorf("volume %q: linking it into the sandbox: %w", v.Target, err)
		}
	}
	return nil
}

// pointsAt reports whether link is already a link to source (a recovered
// container's volumes were linked by the agent that started it).
func pointsAt(link, source string) bool {
	dest, err := os.Readlink(link)
	return err == nil && dest == source
}

// Linux is filesystem/linux.
type Linux struct {
	// Root holds the containers' root directories (Root/<container>).
	Root string
	// Images, if set, makes the roots of containers whose ContainerInfo
	// names an image (image.go); Shell is the bundle their exit-status
	// wrapper runs with.
	Images Images
	Shell  *ShellBundle
}

var (
	_ isolators.Isolator  = (*Linux)(nil)
	_ isolators.Cleaner   = (*Linux)(nil)
	_ isolators.Recoverer = (*Linux)(nil)
)

// Name is Mesos' name.
func (*Linux) Name() string { return "filesystem/linux" }

func (f *Linux) rootfs(id string) string { return filepath.Join(f.Root, id) }

// Prepare makes the container's root and declares its mounts; they exist
// only in the container's mount namespace, so nothing leaks on the host.
func (f *Linux) Prepare(ctx context.Context, c *isolators.Container, l *isolators.Launch) error {
	if c.ID == "" || strings.ContainsAny(c.ID, "/\x00") || c.ID == "." || c.ID == ".." {
		return fmt.Errorf("filesystem/linux: container ID %q cannot name a directory", c.ID)
	}
	ref, err := isolators.ImageOf(c.Info)
	if err != nil {
		return err
	}
	if ref != nil {
		return f.prepareImage(ctx, c, l, ref)
	}
	rootfs := f.rootfs(c.ID)
	if err := makeRootfs(rootfs); err != nil {
		return err
	}
	l.Rootfs = rootfs
	l.Namespaces = append(l.Namespaces, isolators.Namespace{Type: isolators.MountNamespace})
	l.Process.Cwd = c.Sandbox
	l.Mounts = append(l.Mounts, systemMounts()...)
	l.Mounts = append(l.Mounts, isolators.Bind("/usr", "/usr", true), isolators.Bind("/etc", "/etc", true),
		isolators.Bind(c.Sandbox, c.Sandbox, false))
	for _, v := range c.Volumes {
		if v.Source == "" {
			return unresolved(v)
		}
		l.Mounts = append(l.Mounts, isolators.Bind(v.Source, target(c, v), v.ReadOnly))
	}
	return nil
}

// systemMounts are what every container with a root of its own gets.
func systemMounts() []isolators.Mount {
	return []isolators.Mount{
		{Source: "proc", Destination: "/proc", Type: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755"}},
		{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Source: "shm", Destination: "/dev/shm", Type: "tmpfs", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Source: "mqueue", Destination: "/dev/mqueue", Type: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Source: "tmpfs", Destination: "/tmp", Type: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
	}
}

// usrDir is the host's /usr, which every root without an image mounts.
const usrDir = "/usr"

// makeRootfs prepares an empty root whose /bin, /sbin and /lib (and the
// other library directories the host's /usr has) point into /usr, which
// (like /etc) is bind-mounted read-only from the host.
func makeRootfs(dir string) error {
	for _, d := range []string{"usr", "etc", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("filesystem/linux: creating the container's root: %w", err)
		}
	}
	for _, link := range []string{"bin", "sbin", "lib", "lib64", "lib32", "libx32"} {
		if _, err := os.Stat(filepath.Join(usrDir, link)); err != nil {
			continue // the host has none: a link would dangle, and cost an inode per container
		}
		if err := os.Symlink("usr/"+link, filepath.Join(dir, link)); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("filesystem/linux: creating the container's root: %w", err)
		}
	}
	return nil
}

// Cleanup removes the container's root: an image's is unmounted and its
// upper directory removed.
func (f *Linux) Cleanup(_ context.Context, c *isolators.Container) error {
	if f.Images != nil {
		if err := f.Images.Destroy(c.ID); err != nil {
			return fmt.Errorf("filesystem/linux: %w", err)
		}
	}
	if err := os.RemoveAll(f.rootfs(c.ID)); err != nil {
		return fmt.Errorf("filesystem/linux: removing %s's root: %w", c.ID, err)
	}
	return nil
}

// Recover removes the roots of containers that are gone, and re-attaches
// the image roots of those alive.
func (f *Linux) Recover(_ context.Context, alive []*isolators.Container) error {
	keep := make(map[string]bool, len(alive))
	ids := make([]string, 0, len(alive))
	for _, c := range alive {
		keep[c.ID] = true
		ids = append(ids, c.ID)
	}
	var imageErr error
	if f.Images != nil {
		imageErr = f.Images.Recover(ids)
	}
	entries, err := os.ReadDir(f.Root)
	if errors.Is(err, os.ErrNotExist) {
		return imageErr
	}
	if err != nil {
		return errors.Join(imageErr, fmt.Errorf("filesystem/linux: %w", err))
	}
	errs := []error{imageErr}
	for _, e := range entries {
		if !keep[e.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(f.Root, e.Name())))
		}
	}
	return errors.Join(errs...)
}
