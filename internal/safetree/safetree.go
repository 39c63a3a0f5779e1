//go:build linux

// Package safetree creates and opens files beneath one directory and never
// outside it, whatever names, links or "..", a hostile archive or a task
// racing in its own directory, throws at it.
//
// Every lookup is one openat2(2) relative to a descriptor of the directory
// opened once, with RESOLVE_BENEATH: the kernel refuses (EXDEV) any "..",
// absolute link or chain of relative links that would climb above the
// descriptor, checking and using the path in the same call, so nothing can
// swap a directory for a link in between. In NoLinks mode it also refuses
// (ELOOP) to follow any link at all, which is what unpacking an image layer
// needs: a layer's links mean something inside the container's root, never
// on the host, so none is ever followed while the layer is written.
// filepath-securejoin and os.Root walk links in user space one component at
// a time to the same end; openat2 (Linux 5.6) leaves that walk to the
// kernel, which already does it for every open.
//
// The agent's fetcher (sandboxes) and the image layer store (layers,
// container root filesystems) both write through a Tree.
package safetree

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode says how links met while resolving a path are treated.
type Mode int

const (
	// Beneath follows links whose target stays beneath the tree.
	Beneath Mode = iota
	// NoLinks follows no link at all.
	NoLinks
)

var (
	// ErrOutside is what EXDEV from RESOLVE_BENEATH means here.
	ErrOutside = errors.New("resolves outside the directory")
	// ErrLink is what ELOOP from RESOLVE_NO_SYMLINKS means here.
	ErrLink = errors.New("passes through a symbolic link")
)

// Tree is a directory that paths are resolved beneath, never outside.
type Tree struct {
	fd      int    // O_PATH|O_DIRECTORY
	real    string // the directory's path as the kernel sees it
	resolve uint64
	mode    Mode
	outside error // what EXDEV is reported as
}

// Open opens dir as a tree.
func Open(dir string, mode Mode) (*Tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	real, err := FdPath(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	resolve := uint64(unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS)
	if mode == NoLinks {
		resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	return &Tree{fd: fd, real: real, resolve: resolve, mode: mode, outside: ErrOutside}, nil
}

// ReportOutside makes the tree report paths that resolve outside it as
// err (wrapped with the path) instead of ErrOutside, for callers whose
// users know the directory by another name ("the sandbox").
func (t *Tree) ReportOutside(err error) *Tree {
	t.outside = err
	return t
}

// Close releases the tree's descriptor.
func (t *Tree) Close() error { return unix.Close(t.fd) }

// Fd is the tree's O_PATH descriptor, for *at calls on names directly in it.
func (t *Tree) Fd() int { return t.fd }

// Real is the tree's path as the kernel resolved it when it was opened.
func (t *Tree) Real() string { return t.real }

// OpenAt resolves rel beneath the tree, retrying the EAGAIN the kernel
// answers when a rename elsewhere raced with a ".." lookup.
func (t *Tree) OpenAt(rel string, flags uint64, mode uint64) (int, error) {
	how := &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: mode, Resolve: t.resolve}
	for range 16 {
		fd, err := unix.Openat2(t.fd, rel, how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EXDEV):
			return -1, fmt.Errorf("%s: %w", rel, t.outside)
		case errors.Is(err, unix.ELOOP) && t.mode == NoLinks:
			return -1, fmt.Errorf("%s: %w", rel, ErrLink)
		default:
			return -1, &os.PathError{Op: "open", Path: rel, Err: err}
		}
	}
	return -1, &os.PathError{Op: "open", Path: rel, Err: unix.EAGAIN}
}

// Dir returns an O_PATH descriptor of directory rel, creating the missing
// ones (mode 0755) a component at a time, each inside a directory already
// resolved beneath the tree.
func (t *Tree) Dir(rel string) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY
	fd, err := t.OpenAt(rel, flags, 0)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return fd, err
	}
	parent, err := t.OpenAt(".", flags, 0)
	if err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := t.OpenAt(prefix, flags, 0)
		if errors.Is(err, os.ErrNotExist) {
			if err := unix.Mkdirat(parent, part, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(parent)
				return -1, &os.PathError{Op: "mkdir", Path: prefix, Err: err}
			}
			fd, err = t.OpenAt(prefix, flags, 0)
		}
		unix.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

// MkdirAll creates directory rel and its missing parents.
func (t *Tree) MkdirAll(rel string) error {
	fd, err := t.Dir(rel)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// Parent resolves (creating it if missing) the directory holding rel and
// returns a descriptor of it with rel's last component.
func (t *Tree) Parent(rel string) (int, string, error) {
	dir, base := filepath.Split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := t.Dir(filepath.Clean(dir))
	return fd, base, err
}

// UnlinkOld removes a non-directory at base inside dirfd so that what
// replaces it is created afresh, never written through an old link.
func UnlinkOld(dirfd int, base, rel string) error {
	err := unix.Unlinkat(dirfd, base, 0)
	switch {
	case err == nil || errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EISDIR):
		return fmt.Errorf("%s: a directory is in the way", rel)
	}
	return &os.PathError{Op: "remove", Path: rel, Err: err}
}

// Create makes a new file at rel, replacing a non-directory already there.
func (t *Tree) Create(rel string, perm os.FileMode) (*os.File, error) {
	dirfd, base, err := t.Parent(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_WRONLY | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, base, flags, uint32(perm.Perm()))
	if errors.Is(err, unix.EEXIST) {
		if err := UnlinkOld(dirfd, base, rel); err != nil {
			return nil, err
		}
		fd, err = unix.Openat(dirfd, base, flags, uint32(perm.Perm()))
	}
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: rel, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(t.real, rel)), nil
}

// FdPath is the path the kernel holds for fd. A thread whose filesystem
// uid is not root may still read it: a process may always look at its own
// descriptors.
func FdPath(fd int) (string, error) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("finding the path of a directory: %w", err)
	}
	return p, nil
}

// CleanName is an archive entry's name as a path relative to the tree's
// root: empty and "." components dropped, "." for the root itself. ok is
// false when a component is "..", which callers refuse rather than clamp:
// an archive carrying one was not made to be unpacked in place.
func CleanName(raw string) (name string, ok bool) {
	var parts []string
	for part := range strings.SplitSeq(raw, "/") {
		switch part {
		case "", ".":
		case "..":
			return "", false
		default:
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		return ".", true
	}
	return strings.Join(parts, "/"), true
}
