//go:build !linux

package fetcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tree is a directory that paths are resolved beneath, never outside.
// Without openat2 this falls back on os.Root, which walks links in user
// space to the same end. Archives' links are refused here: the check that
// a link stays inside needs the real path of its parent, which only the
// Linux tree reads.
type tree struct {
	root *os.Root
}

func openTree(dir string) (*tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &tree{root: root}, nil
}

func (t *tree) close() { t.root.Close() }

func (t *tree) chown(uid, gid int) error { return t.root.Chown(".", uid, gid) }

func (t *tree) mkdirAll(rel string) error { return t.root.MkdirAll(rel, 0o755) }

func (t *tree) create(rel string, perm os.FileMode) (*os.File, error) {
	if dir := filepath.Dir(rel); dir != "." {
		if err := t.root.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	const flags = os.O_CREATE | os.O_EXCL | os.O_WRONLY
	f, err := t.root.OpenFile(rel, flags, perm.Perm())
	if errors.Is(err, fs.ErrExist) {
		if info, lerr := t.root.Lstat(rel); lerr == nil && info.IsDir() {
			return nil, fmt.Errorf("%s: a directory is in the way", rel)
		}
		if err := t.root.Remove(rel); err != nil {
			return nil, err
		}
		f, err = t.root.OpenFile(rel, flags, perm.Perm())
	}
	return f, err
}

func (t *tree) symlink(rel, target string) error {
	return fmt.Errorf("link %s to %q: links are extracted on Linux only", rel, target)
}

func (t *tree) open(rel string) (*os.File, error) {
	f, err := t.root.Open(rel)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return f, nil
}

func (t *tree) rename(from, to string) error { return t.root.Rename(from, to) }

func (t *tree) remove(name string) error { return t.root.Remove(name) }

func (t *tree) touch(name string) error {
	now := time.Now()
	return t.root.Chtimes(name, now, now)
}

// notProc: only Linux's procfs needs refusing.
func notProc(*os.File) error { return nil }
