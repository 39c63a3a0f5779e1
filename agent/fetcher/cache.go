package fetcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// viaCache serves uri from the user's cache directory, filling it first if
// needed. Filling and reading happen with the user's credentials, so what
// a user could not read itself never enters its cache; eviction runs as
// the agent, since it spans every user's directory.
func (f *Fetcher) viaCache(ctx context.Context, uri string, box *tree, name string, executable bool, id identity, w *worker) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, err := f.userCache(id)
	if err != nil {
		return err
	}
	defer dir.close()
	sum := sha256.Sum256([]byte(uri))
	entry := hex.EncodeToString(sum[:])
	filled := false
	err = w.do(func() error {
		in, err := dir.open(entry)
		if errors.Is(err, fs.ErrNotExist) {
			part := entry + ".part"
			if err := f.download(ctx, uri, dir, part, false); err != nil {
				_ = dir.remove(part)
				return err
			}
			if err := dir.rename(part, entry); err != nil {
				return err
			}
			filled = true
			in, err = dir.open(entry)
		}
		if err != nil {
			return err
		}
		defer in.Close()
		_ = dir.touch(entry) // recently used
		return writeFrom(box, name, in, executable)
	})
	if filled {
		f.evict(filepath.Join(f.CacheDir, strconv.Itoa(id.uid), entry))
	}
	return err
}

// userCache opens (creating it if needed) the cache directory of id's
// uid, 0700 and owned by that uid so that only it and root can read what
// it cached.
func (f *Fetcher) userCache(id identity) (*tree, error) {
	if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(f.CacheDir, strconv.Itoa(id.uid))
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	dir, err := openTree(path)
	if err != nil {
		return nil, err
	}
	if id.switched {
		if err := dir.chown(id.uid, id.gid); err != nil {
			dir.close()
			return nil, err
		}
	}
	return dir, nil
}

// evict drops least recently used entries of every user beyond CacheSize
// (never keep, the one just filled).
func (f *Fetcher) evict(keep string) {
	if f.CacheSize <= 0 {
		return
	}
	type item struct {
		path string
		size int64
		used time.Time
	}
	var items []item
	var total int64
	users, _ := os.ReadDir(f.CacheDir)
	for _, u := range users {
		top := filepath.Join(f.CacheDir, u.Name())
		if !u.IsDir() {
			// The flat layout of earlier versions: never served any more.
			_ = os.Remove(top)
			continue
		}
		entries, _ := os.ReadDir(top)
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || strings.HasSuffix(e.Name(), ".part") {
				continue
			}
			items = append(items, item{filepath.Join(top, e.Name()), info.Size(), info.ModTime()})
			total += info.Size()
		}
	}
	slices.SortFunc(items, func(a, b item) int { return a.used.Compare(b.used) })
	for _, it := range items {
		if total <= f.CacheSize {
			return
		}
		if it.path == keep {
			continue
		}
		if os.Remove(it.path) == nil {
			total -= it.size
		}
	}
}
