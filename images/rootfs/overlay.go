//go:build linux

package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/corral-sched/corral/images/unpack"
	"golang.org/x/sys/unix"
)

// Overlay mounts overlayfs root filesystems.
type Overlay struct{ base string }

var _ Backend = (*Overlay)(nil)

func (*Overlay) Name() string { return "overlay" }

func (*Overlay) LayerFormat() unpack.Format { return unpack.Overlay }

func (o *Overlay) List() ([]string, error) { return list(o.base) }

// Create mounts a fresh overlay for container id.
func (o *Overlay) Create(id string, layers []string) (string, error) {
	dir, err := containerDir(o.base, id)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("container %s already has a root filesystem", id)
	}
	return o.Attach(id, layers)
}

// Attach mounts container id's overlay unless it is mounted already,
// keeping what the container wrote in its upper directory.
func (o *Overlay) Attach(id string, layers []string) (string, error) {
	dir, err := containerDir(o.base, id)
	if err != nil {
		return "", err
	}
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", fmt.Errorf("root filesystem of %s: %w", id, err)
		}
	}
	mounted, err := IsMounted(merged)
	if err != nil {
		return "", err
	}
	if mounted {
		return merged, nil
	}
	if err := mountOverlay(layers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), merged); err != nil {
		return "", fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	return merged, nil
}

// Remove unmounts container id's overlay and deletes its directories. A
// mount that will not go is an error, and then nothing is deleted: a
// recursive delete through a mounted overlay would write whiteouts, and
// through a stray bind mount could reach anything.
func (o *Overlay) Remove(id string) error {
	dir, err := containerDir(o.base, id)
	if err != nil {
		return err
	}
	merged := filepath.Join(dir, "merged")
	if err := unmount(merged); err != nil {
		return fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	return nil
}

// mountOverlay mounts lower (lowest first), upper and work at target.
// The new mount API takes the lower directories one at a time
// ("lowerdir+", Linux 6.8), so an image's layer count is not bounded by
// the page-sized option string of mount(2), which is the fallback.
func mountOverlay(lower []string, upper, work, target string) error {
	if len(lower) == 0 {
		return errors.New("an overlay needs at least one layer")
	}
	err := fsmountOverlay(lower, upper, work, target)
	if err == nil || !(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)) {
		return err
	}
	top := make([]string, len(lower))
	for i, l := range lower {
		if strings.ContainsAny(l, ":,") {
			return fmt.Errorf("layer path %q cannot be passed to mount(2)", l)
		}
		top[len(lower)-1-i] = l // overlayfs lists the topmost first
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(top, ":"), upper, work)
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("%d layers make mount options longer than a page, and this kernel lacks lowerdir+", len(lower))
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

func fsmountOverlay(lower []string, upper, work, target string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	for i := len(lower) - 1; i >= 0; i-- {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", lower[i]); err != nil {
			return fmt.Errorf("overlay lowerdir+ %s: %w", lower[i], err)
		}
	}
	if err := unix.FsconfigSetString(fsfd, "upperdir", upper); err != nil {
		return fmt.Errorf("overlay upperdir: %w", err)
	}
	if err := unix.FsconfigSetString(fsfd, "workdir", work); err != nil {
		return fmt.Errorf("overlay workdir: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("creating the overlay: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

// unmount unmounts target until nothing is mounted there (a container
// bind-mounting its own root stacks mounts), lazily if it stays busy.
func unmount(target string) error {
	for range 8 {
		mounted, err := IsMounted(target)
		if err != nil || !mounted {
			return err
		}
		err = unix.Unmount(target, unix.UMOUNT_NOFOLLOW)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(target, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
	}
	return fmt.Errorf("%s stays mounted", target)
}

// IsMounted reports whether path is a mount point in this process's mount
// namespace, read from /proc/thread-self/mountinfo.
func IsMounted(path string) (bool, error) {
	points, err := MountPoints()
	if err != nil {
		return false, err
	}
	return points[filepath.Clean(path)], nil
}

// MountPoints lists this mount namespace's mount points.
func MountPoints() (map[string]bool, error) {
	// Not /proc/self: that is the main thread's view, and libcontainer
	// locks a thread into a new container's mount namespace for good
	// (its mount-source thread), which can be the main thread. Every
	// thread a goroutine may run on is in the process's own namespace.
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	points := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			points[unescape(fields[4])] = true
		}
	}
	return points, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Probe checks that an overlay can be mounted with its directories under
// dir (overlayfs needs an upper filesystem that supports it: not every
// one does, e.g. another overlay or some network filesystems).
func Probe(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var paths []string
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		p := filepath.Join(tmp, d)
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	if err := os.WriteFile(filepath.Join(paths[0], "probe"), nil, 0o600); err != nil {
		return err
	}
	if err := mountOverlay(paths[:1], paths[1], paths[2], paths[3]); err != nil {
		return err
	}
	defer unmount(paths[3])
	if _, err := os.Stat(filepath.Join(paths[3], "probe")); err != nil {
		return fmt.Errorf("the probe overlay does not show its lower layer: %w", err)
	}
	return unmount(paths[3])
}
