//go:build linux

package fetcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corral-sched/corral/internal/safetree"
	"golang.org/x/sys/unix"
)

// tree is a directory that paths are resolved beneath, never outside: a
// safetree.Tree in Beneath mode (relative links inside the sandbox are
// followed, nothing resolves above it), with the fetcher's own rules for
// links, reads and the cache's renames on top.
type tree struct {
	st   *safetree.Tree
	fd   int    // O_PATH|O_DIRECTORY
	real string // the directory's path as the kernel sees it
}

// errOutside is what EXDEV from RESOLVE_BENEATH means here.
var errOutside = errors.New("resolves outside the sandbox")

func openTree(dir string) (*tree, error) {
	st, err := safetree.Open(dir, safetree.Beneath)
	if err != nil {
		return nil, err
	}
	st.ReportOutside(errOutside)
	return &tree{st: st, fd: st.Fd(), real: st.Real()}, nil
}

func (t *tree) close() { t.st.Close() }

// chown gives the directory itself (not its contents) to uid:gid.
func (t *tree) chown(uid, gid int) error {
	if err := unix.Fchownat(t.fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: t.real, Err: err}
	}
	return nil
}

func (t *tree) openat2(rel string, flags uint64, mode uint64) (int, error) {
	return t.st.OpenAt(rel, flags, mode)
}

func (t *tree) mkdirAll(rel string) error { return t.st.MkdirAll(rel) }

func (t *tree) parent(rel string) (int, string, error) { return t.st.Parent(rel) }

func unlinkOld(dirfd int, base, rel string) error { return safetree.UnlinkOld(dirfd, base, rel) }

func (t *tree) create(rel string, perm os.FileMode) (*os.File, error) {
	return t.st.Create(rel, perm)
}

// symlink makes rel a link to target, which must be relative and, read
// from rel's real parent (links already followed), stay inside the tree.
// Resolution beneath the tree would stop a later write through any link
// anyway; refusing such links keeps the sandbox free of pointers out of it
// for the task too.
func (t *tree) symlink(rel, target string) error {
	if target == "" || filepath.IsAbs(target) {
		return fmt.Errorf("link to %q: only relative links are extracted", target)
	}
	dirfd, base, err := t.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	real, err := fdPath(dirfd)
	if err != nil {
		return err
	}
	from, err := filepath.Rel(t.real, real)
	if err != nil || !filepath.IsLocal(filepath.Join(from, base)) || !filepath.IsLocal(filepath.Join(from, target)) {
		return fmt.Errorf("link to %q from %s: %w", target, filepath.Join(from, base), errOutside)
	}
	if err := unlinkOld(dirfd, base, rel); err != nil {
		return err
	}
	if err := unix.Symlinkat(target, dirfd, base); err != nil {
		return &os.PathError{Op: "symlink", Path: rel, Err: err}
	}
	return nil
}

// open opens the regular file rel for reading. O_NONBLOCK lets a FIFO be
// opened, and refused, without waiting for a writer.
func (t *tree) open(rel string) (*os.File, error) {
	fd, err := t.openat2(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(t.real, rel)), nil
}

// rename, remove and touch act on names directly inside the tree.
func (t *tree) rename(from, to string) error {
	if err := unix.Renameat(t.fd, from, t.fd, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

func (t *tree) remove(name string) error {
	return unix.Unlinkat(t.fd, name, 0)
}

func (t *tree) touch(name string) error {
	now := unix.NsecToTimespec(time.Now().UnixNano())
	return unix.UtimesNanoAt(t.fd, name, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
}

func fdPath(fd int) (string, error) { return safetree.FdPath(fd) }

// notProc refuses a source on procfs. Opened by the agent's own process,
// /proc/self (and /proc/<agent pid>) passes the kernel's same-process
// checks whatever the thread's filesystem uid: a task's user could read
// the agent's memory map or, through /proc/self/fd, files in directories
// it may not enter.
func notProc(f *os.File) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "statfs", Path: f.Name(), Err: err}
	}
	if st.Type == unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is on /proc, which is not fetched", f.Name())
	}
	return nil
}
