//go:build linux

package fetcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tree is a directory that paths are resolved beneath, never outside.
//
// Every lookup is one openat2(2) relative to a descriptor opened once,
// with RESOLVE_BENEATH: the kernel refuses (EXDEV) any "..", absolute
// link or chain of relative links that would climb above the descriptor,
// checking and using the path in the same call, so neither an archive's
// earlier entries nor a task racing in its own sandbox can swap a
// directory for a link in between. filepath-securejoin and os.Root walk
// links in user space one component at a time to the same end; openat2
// (Linux 5.6) leaves that walk to the kernel, which already does it for
// every open, and hands back a descriptor whose real path the link check
// below can read.
type tree struct {
	fd   int    // O_PATH|O_DIRECTORY
	real string // the directory's path as the kernel sees it
}

const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// errOutside is what EXDEV from RESOLVE_BENEATH means here.
var errOutside = errors.New("resolves outside the sandbox")

func openTree(dir string) (*tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	real, err := fdPath(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &tree{fd: fd, real: real}, nil
}

func (t *tree) close() { unix.Close(t.fd) }

// chown gives the directory itself (not its contents) to uid:gid.
func (t *tree) chown(uid, gid int) error {
	if err := unix.Fchownat(t.fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: t.real, Err: err}
	}
	return nil
}

// openat2 resolves rel beneath the tree, retrying the EAGAIN the kernel
// answers when a rename elsewhere raced with a ".." lookup.
func (t *tree) openat2(rel string, flags uint64, mode uint64) (int, error) {
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: mode, Resolve: beneath}
	for range 16 {
		fd, err := unix.Openat2(t.fd, rel, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EXDEV):
			return -1, fmt.Errorf("%s: %w", rel, errOutside)
		default:
			return -1, &os.PathError{Op: "open", Path: rel, Err: err}
		}
	}
	return -1, &os.PathError{Op: "open", Path: rel, Err: unix.EAGAIN}
}

// dir returns an O_PATH descriptor of directory rel, creating the missing
// ones a component at a time, each inside a directory already resolved
// beneath the tree.
func (t *tree) dir(rel string) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY
	fd, err := t.openat2(rel, flags, 0)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return fd, err
	}
	parent, err := t.openat2(".", flags, 0)
	if err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := t.openat2(prefix, flags, 0)
		if errors.Is(err, os.ErrNotExist) {
			if err := unix.Mkdirat(parent, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(parent)
				return -1, &os.PathError{Op: "mkdir", Path: prefix, Err: err}
			}
			fd, err = t.openat2(prefix, flags, 0)
		}
		unix.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

func (t *tree) mkdirAll(rel string) error {
	fd, err := t.dir(rel)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// parent resolves the directory holding rel and returns it with rel's
// last component.
func (t *tree) parent(rel string) (int, string, error) {
	dir, base := filepath.Split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := t.dir(filepath.Clean(dir))
	return fd, base, err
}

// unlinkOld removes a non-directory at base inside dirfd so that what
// replaces it is created afresh, never written through an old link.
func unlinkOld(dirfd int, base, rel string) error {
	err := unix.Unlinkat(dirfd, base, 0)
	switch {
	case err == nil || errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EISDIR):
		return fmt.Errorf("%s: a directory is in the way", rel)
	}
	return &os.PathError{Op: "remove", Path: rel, Err: err}
}

// create makes a new file at rel, replacing a non-directory already there.
func (t *tree) create(rel string, perm os.FileMode) (*os.File, error) {
	dirfd, base, err := t.parent(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_WRONLY | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, base, flags, uint32(perm.Perm()))
	if errors.Is(err, unix.EEXIST) {
		if err := unlinkOld(dirfd, base, rel); err != nil {
			return nil, err
		}
		fd, err = unix.Openat(dirfd, base, flags, uint32(perm.Perm()))
	}
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(t.real, rel)), nil
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

// fdPath is the path the kernel holds for fd. A thread whose filesystem
// uid is not root may still read it: a process may always look at its own
// descriptors.
func fdPath(fd int) (string, error) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("finding the path of a directory: %w", err)
	}
	return p, nil
}

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
