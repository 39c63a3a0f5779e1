//go:build linux

package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/corral-sched/corral/images/unpack"
	"github.com/corral-sched/corral/internal/fsync"
	"golang.org/x/sys/unix"
)

// ErrDiffID means a layer's content is not what its image's config says.
var ErrDiffID = errors.New("layer content does not match its DiffID")

// AddLayer puts layer diffID into the store from the blob open returns,
// unless the store has it already. Concurrent calls for one layer unpack
// it once: the others wait for that one (or their ctx). open is called
// only by the caller that unpacks, and its stream is read to the end so
// that a verifying reader checks the blob's digest. unpacked reports
// whether this call unpacked the layer.
func (s *Store) AddLayer(ctx context.Context, diffID string, open func() (io.ReadCloser, error)) (unpacked bool, err error) {
	hex, err := hexOf(diffID)
	if err != nil {
		return false, err
	}
	if s.HasLayer(diffID) {
		return false, nil
	}
	_, shared, err := s.unpacks.Do(ctx, diffID, func() (int64, error) {
		if s.HasLayer(diffID) {
			return 0, nil
		}
		return s.unpackLayer(hex, diffID, open)
	})
	return !shared && err == nil, err
}

func (s *Store) unpackLayer(hex, diffID string, open func() (io.ReadCloser, error)) (int64, error) {
	tmp, err := os.MkdirTemp(s.path("staging"), hex+"-")
	if err != nil {
		return 0, fmt.Errorf("staging layer %s: %w", diffID, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(tmp)
		}
	}()
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return 0, err
	}
	rc, err := open()
	if err != nil {
		return 0, err
	}
	res, err := unpack.Layer(rc, root, unpack.Options{Format: s.opts.Format, MaxBytes: s.opts.MaxLayerBytes, Owners: true, Log: s.opts.Log})
	if err == nil {
		// The blob's own digest is checked when its reader reaches EOF.
		_, err = io.Copy(io.Discard, rc)
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	if res.DiffID != diffID {
		return 0, fmt.Errorf("layer %s: %w (its content is %s)", diffID, ErrDiffID, res.DiffID)
	}
	bytes, err := diskUsage(root)
	if err != nil {
		return 0, err
	}
	if err := writeJSON(filepath.Join(tmp, "layer.json"), layerMeta{DiffID: diffID, Bytes: bytes}, false); err != nil {
		return 0, err
	}
	if err := syncFS(tmp); err != nil {
		return 0, err
	}
	dst := filepath.Join(s.layerD, hex)
	if err := os.Rename(tmp, dst); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return bytes, nil // committed by a run before ours; ours is dropped
		}
		return 0, fmt.Errorf("committing layer %s: %w", diffID, err)
	}
	committed = true
	if err := fsync.Dir(s.layerD); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.layers[diffID] = bytes
	s.mu.Unlock()
	return bytes, nil
}

// diskUsage is what dir's files take on disk, hard links counted once.
func diskUsage(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			total += info.Size()
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}

// syncFS flushes the filesystem holding dir: one call for a whole
// layer's files instead of an fsync each.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}
