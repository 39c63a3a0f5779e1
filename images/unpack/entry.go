//go:build linux

package unpack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-sched/corral/internal/safetree"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	// OpaqueMarker marks a directory whose lower layers' contents are hidden.
	OpaqueMarker = ".wh..wh..opq"
	// OpaqueXattr is how overlayfs reads an opaque directory.
	OpaqueXattr = "trusted.overlay.opaque"
)

// writer writes one layer's entries beneath t.
type writer struct {
	t      *safetree.Tree
	opts   Options
	owners bool
	res    Result
	dirs   []*tar.Header // directories whose mode and times are set last
}

func (w *writer) tar(tr *tar.Reader) error {
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the tar: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue // pax defaults for later entries, not a file
		}
		w.res.Entries++
		if w.opts.MaxEntries > 0 && w.res.Entries > w.opts.MaxEntries {
			return fmt.Errorf("the layer has more than %d entries", w.opts.MaxEntries)
		}
		if err := w.entry(h, tr); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
}

// cleanName returns an entry's name relative to the layer's root, "." for
// the root itself. A leading "/" or "./" means the root; ".." is refused
// rather than clamped: a layer carrying it was not made by an image tool.
func cleanName(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty name")
	}
	name, ok := safetree.CleanName(raw)
	if !ok {
		return "", errors.New(`".." in a name is not unpacked`)
	}
	return name, nil
}

func (w *writer) entry(h *tar.Header, r io.Reader) error {
	name, err := cleanName(h.Name)
	if err != nil {
		return err
	}
	if base := path.Base(name); strings.HasPrefix(base, whiteoutPrefix) {
		return w.whiteout(name, h)
	}
	if name == "." && h.Typeflag != tar.TypeDir {
		return errors.New("only a directory may stand for the layer's root")
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return w.dir(name, h)
	case tar.TypeReg:
		return w.file(name, h, r)
	case tar.TypeSymlink:
		return w.symlink(name, h)
	case tar.TypeLink:
		return w.hardlink(name, h)
	case tar.TypeFifo:
		return w.node(name, h, unix.S_IFIFO)
	case tar.TypeChar, tar.TypeBlock:
		w.res.Skipped = append(w.res.Skipped, fmt.Sprintf("%s: device %d:%d (the runtime provides /dev)", name, h.Devmajor, h.Devminor))
		return nil
	}
	return fmt.Errorf("entry type %q is not unpacked", h.Typeflag)
}

// prepare resolves the directory that will hold name (creating missing
// parents, as tars may omit them) and clears whatever this layer already
// put at name, so the new entry is created afresh and never written
// through an older one.
func (w *writer) prepare(name string) (int, string, error) {
	dirfd, base, err := w.t.Parent(name)
	if err != nil {
		return -1, "", err
	}
	if err := clear(dirfd, base, name); err != nil {
		unix.Close(dirfd)
		return -1, "", err
	}
	return dirfd, base, nil
}

// clear removes base in dirfd, a whole directory tree if need be. The
// parent was resolved without following any link, and nothing but this
// unpack writes in the layer's staging directory, so its path as the
// kernel reports it names the same directory.
func clear(dirfd int, base, name string) error {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return safetree.UnlinkOld(dirfd, base, name)
	}
	parent, err := safetree.FdPath(dirfd)
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(parent, base))
}

func (w *writer) dir(name string, h *tar.Header) error {
	if name != "." {
		dirfd, base, err := w.t.Parent(name)
		if err != nil {
			return err
		}
		defer unix.Close(dirfd)
		var st unix.Stat_t
		err = unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := safetree.UnlinkOld(dirfd, base, name); err != nil {
				return err
			}
			err = unix.ENOENT
		}
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(dirfd, base, 0o755); err != nil {
				return &os.PathError{Op: "mkdir", Path: name, Err: err}
			}
		} else if err != nil {
			return &os.PathError{Op: "stat", Path: name, Err: err}
		}
	}
	fd, err := w.t.OpenAt(name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := w.own(fd, h); err != nil {
		return err
	}
	w.xattrs(fd, h)
	hc := *h
	hc.Name = name
	w.dirs = append(w.dirs, &hc)
	return nil
}

func (w *writer) file(name string, h *tar.Header, r io.Reader) error {
	dirfd, base, err := w.prepare(name)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	const flags = unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_WRONLY | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, base, flags, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var src io.Reader = r
	if w.opts.MaxBytes > 0 {
		src = io.LimitReader(r, w.opts.MaxBytes-w.res.Bytes+1)
	}
	n, err := io.Copy(f, src)
	w.res.Bytes += n
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if w.opts.MaxBytes > 0 && w.res.Bytes > w.opts.MaxBytes {
		return fmt.Errorf("the layer expands to more than %d bytes", w.opts.MaxBytes)
	}
	if err := w.own(fd, h); err != nil {
		return err
	}
	// After chown, which clears setuid and setgid bits.
	if err := unix.Fchmod(fd, uint32(h.Mode&0o7777)); err != nil {
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	w.xattrs(fd, h)
	return w.times(dirfd, base, name, h)
}

func (w *writer) symlink(name string, h *tar.Header) error {
	if h.Linkname == "" {
		return errors.New("a link to nothing")
	}
	dirfd, base, err := w.prepare(name)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	// The target is stored as it is: it is resolved inside the
	// container's root, never here.
	if err := unix.Symlinkat(h.Linkname, dirfd, base); err != nil {
		return &os.PathError{Op: "symlink", Path: name, Err: err}
	}
	return w.ownAndTime(dirfd, base, name, h)
}

func (w *writer) hardlink(name string, h *tar.Header) error {
	target, err := cleanName(h.Linkname)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	if target == "." || target == name {
		return fmt.Errorf("hard link to %q: not a file of this layer", h.Linkname)
	}
	tdir, tbase := path.Split(target)
	if tdir == "" {
		tdir = "."
	}
	tfd, err := w.t.OpenAt(path.Clean(tdir), unix.O_PATH|unix.O_DIRECTORY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hard link to %q: no such entry earlier in this layer", h.Linkname)
	}
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	defer unix.Close(tfd)
	dirfd, base, err := w.prepare(name)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
	if err := unix.Linkat(tfd, tbase, dirfd, base, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("hard link to %q: no such entry earlier in this layer", h.Linkname)
		}
		return &os.LinkError{Op: "link", Old: target, New: name, Err: err}
	}
	return nil
}

func (w *writer) node(name string, h *tar.Header, typ uint32) error {
	dirfd, base, err := w.prepare(name)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	if err := unix.Mknodat(dirfd, base, typ|uint32(h.Mode&0o777), 0); err != nil {
		return &os.PathError{Op: "mknod", Path: name, Err: err}
	}
	return w.ownAndTime(dirfd, base, name, h)
}

// whiteout records that name hides what lower layers hold there.
func (w *writer) whiteout(name string, h *tar.Header) error {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	dir = path.Clean(dir)
	if w.opts.Format == Plain {
		// Kept as the empty marker it is; the copy backend applies it.
		dirfd, mbase, err := w.prepare(name)
		if err != nil {
			return err
		}
		defer unix.Close(dirfd)
		fd, err := unix.Openat(dirfd, mbase, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: name, Err: err}
		}
		return unix.Close(fd)
	}
	if w.opts.Format == Apply {
		return w.applyWhiteout(dir, base)
	}
	switch {
	case base == OpaqueMarker:
		fd, err := w.openDir(dir)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fsetxattr(fd, OpaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("marking %s opaque: %w", dir, err)
		}
		return nil
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // aufs' own bookkeeping, meaningless to overlayfs
	}
	hidden := strings.TrimPrefix(base, whiteoutPrefix)
	if hidden == "" || hidden == "." || hidden == ".." {
		return fmt.Errorf("whiteout of %q", hidden)
	}
	dirfd, hbase, err := w.prepare(path.Join(dir, hidden))
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	if err := unix.Mknodat(dirfd, hbase, unix.S_IFCHR, 0); err != nil {
		return &os.PathError{Op: "mknod", Path: path.Join(dir, hidden), Err: err}
	}
	return nil
}

// applyWhiteout removes what a whiteout hides from the layers below.
func (w *writer) applyWhiteout(dir, base string) error {
	switch {
	case base == OpaqueMarker:
		fd, err := w.openDir(dir)
		if err != nil {
			return err
		}
		d := os.NewFile(uintptr(fd), dir)
		defer d.Close()
		names, err := d.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, n := range names {
			if err := clear(fd, n, path.Join(dir, n)); err != nil {
				return err
			}
		}
		return nil
	case strings.HasPrefix(base, whiteoutMeta):
		return nil
	}
	hidden := strings.TrimPrefix(base, whiteoutPrefix)
	if hidden == "" || hidden == "." || hidden == ".." {
		return fmt.Errorf("whiteout of %q", hidden)
	}
	dirfd, err := w.t.OpenAt(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	return clear(dirfd, hidden, path.Join(dir, hidden))
}

// own gives fd the entry's owner when unpacking as root.
func (w *writer) own(fd int, h *tar.Header) error {
	if !w.owners {
		return nil
	}
	if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
		return fmt.Errorf("chown %s: %w", h.Name, err)
	}
	return nil
}

// xattrs applies the extended attributes that mean something inside a
// container: user.* and file capabilities. Others (trusted.*, which
// overlayfs reads, security.selinux) are never taken from an image.
func (w *writer) xattrs(fd int, h *tar.Header) {
	for k, v := range h.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !(strings.HasPrefix(attr, "user.") || (attr == "security.capability" && w.owners)) {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			w.opts.Log.Debug("xattr not set", "entry", h.Name, "attr", attr, "err", err)
		}
	}
}

func (w *writer) times(dirfd int, base, name string, h *tar.Header) error {
	at := h.AccessTime
	if at.IsZero() {
		at = h.ModTime
	}
	ts := []unix.Timespec{timespec(at), timespec(h.ModTime)}
	if err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: name, Err: err}
	}
	return nil
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Sec: 0, Nsec: 0}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// finish sets directories' modes and times, which writing their contents
// would otherwise have changed.
func (w *writer) finish() error {
	for _, h := range w.dirs {
		fd, err := w.t.OpenAt(h.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			continue // replaced by a later entry
		}
		if err != nil {
			return err
		}
		err = unix.Fchmod(fd, uint32(h.Mode&0o7777))
		if err == nil {
			at := h.AccessTime
			if at.IsZero() {
				at = h.ModTime
			}
			err = unix.Futimes(fd, []unix.Timeval{unix.NsecToTimeval(at.UnixNano()), unix.NsecToTimeval(h.ModTime.UnixNano())})
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("directory %s: %w", h.Name, err)
		}
	}
	return nil
}

// ownAndTime gives a new entry (not followed if a link) the owner, where
// the writer keeps owners, and the times its header says.
func (w *writer) ownAndTime(dirfd int, base, name string, h *tar.Header) error {
	if w.owners {
		if err := unix.Fchownat(dirfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	return w.times(dirfd, base, name, h)
}

// openDir opens dir of the tree, making it (and its parents) if need be.
func (w *writer) openDir(dir string) (int, error) {
	if err := w.t.MkdirAll(dir); err != nil {
		return -1, err
	}
	return w.t.OpenAt(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
}
