//go:build linux

package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/corral-sched/corral/images/unpack"
	"golang.org/x/sys/unix"
)

// Copy builds root filesystems by copying layers.
type Copy struct{ base string }

var _ Backend = (*Copy)(nil)

func (*Copy) Name() string { return "copy" }

func (*Copy) LayerFormat() unpack.Format { return unpack.Plain }

func (c *Copy) List() ([]string, error) { return list(c.base) }

// Create copies layers, lowest first, into <base>/<id>/rootfs. Each layer
// is streamed as a tar into the unpacker in its Apply format, so the copy
// obeys the same rules as a pull (nothing written through a link, nothing
// outside the root) and carries out the layer's whiteouts.
func (c *Copy) Create(id string, layers []string) (string, error) {
	dir, err := containerDir(c.base, id)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	// Built aside and renamed, so a half-built root is never Attached.
	tmp := filepath.Join(dir, ".rootfs")
	root := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	for _, l := range layers {
		if err := applyLayer(l, tmp); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("root filesystem of %s: copying layer %s: %w", id, l, err)
		}
	}
	if err := os.Rename(tmp, root); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	return root, nil
}

// Attach returns the copied root filesystem, which needs no re-mount.
func (c *Copy) Attach(id string, _ []string) (string, error) {
	dir, err := containerDir(c.base, id)
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "rootfs")
	if _, err := os.Lstat(root); err != nil {
		return "", fmt.Errorf("root filesystem of %s: %w", id, err)
	}
	return root, nil
}

// Remove deletes container id's copy.
func (c *Copy) Remove(id string) error {
	dir, err := containerDir(c.base, id)
	if err != nil {
		return err
	}
	if mounted, err := IsMounted(filepath.Join(dir, "rootfs")); err != nil || mounted {
		return fmt.Errorf("root filesystem of %s is still a mount point (%v); not deleting through it", id, err)
	}
	return os.RemoveAll(dir)
}

func applyLayer(layer, root string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(layer, pw)) }()
	_, err := unpack.Layer(pr, root, unpack.Options{Format: unpack.Apply, Owners: true})
	pr.CloseWithError(errors.New("the unpacker stopped"))
	return err
}

// writeTar writes dir's tree as a tar: each directory before its
// contents, whiteout markers before their siblings (the Apply format
// needs them first), hard links as links to the first name of an inode.
func writeTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	seen := map[uint64]string{}
	if err := walk(dir, "", tw, seen); err != nil {
		return err
	}
	return tw.Close()
}

func walk(dir, rel string, tw *tar.Writer, seen map[uint64]string) error {
	entries, err := os.ReadDir(filepath.Join(dir, rel))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int {
		wa, wb := strings.HasPrefix(a, ".wh."), strings.HasPrefix(b, ".wh.")
		if wa != wb {
			if wa {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		name := path.Join(rel, n)
		if err := entry(dir, name, tw, seen); err != nil {
			return err
		}
	}
	return nil
}

func entry(dir, name string, tw *tar.Writer, seen map[uint64]string) error {
	p := filepath.Join(dir, name)
	info, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	h.Name = name
	h.Uname, h.Gname = "", ""
	st := info.Sys().(*syscall.Stat_t)
	if info.Mode().IsRegular() && st.Nlink > 1 {
		if first, ok := seen[st.Ino]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else {
			seen[st.Ino] = name
		}
	}
	if info.IsDir() {
		h.Name += "/"
	}
	h.PAXRecords = xattrs(p)
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeReg && h.Size > 0 {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if info.IsDir() {
		return walk(dir, name, tw, seen)
	}
	return nil
}

// xattrs reads the attributes the unpacker keeps, as PAX records.
func xattrs(p string) map[string]string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	var out map[string]string
	for _, attr := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(attr, "user.") && attr != "security.capability" {
			continue
		}
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, attr, val)
		if err != nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out["SCHILY.xattr."+attr] = string(val[:m])
	}
	return out
}
