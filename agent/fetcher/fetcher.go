// Package fetcher puts a task's CommandInfo.uris into its sandbox before it
// starts: http(s) downloads, file:// URIs and plain paths, optionally
// through a per-agent cache, extracting archives (tar, tar.gz, tgz,
// tar.bz2, tar.xz, zip) and marking files executable. A failure names the
// URI and what went wrong; nothing a URI or an archive names may land
// outside the sandbox.
package fetcher

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Fetcher fetches URIs. The zero value fetches without a cache.
type Fetcher struct {
	// CacheDir, if set, keeps URIs marked cache; CacheSize bounds it
	// (least recently used entries go first).
	CacheDir  string
	CacheSize int64
	Client    *http.Client

	mu sync.Mutex // one cache writer at a time
}

// Fetch fetches uris into sandbox.
func (f *Fetcher) Fetch(ctx context.Context, uris []*mesospb.CommandInfo_URI, sandbox string) error {
	for _, u := range uris {
		if err := f.fetchOne(ctx, u, sandbox); err != nil {
			return fmt.Errorf("fetching %s: %w", u.GetValue(), err)
		}
	}
	return nil
}

func (f *Fetcher) fetchOne(ctx context.Context, u *mesospb.CommandInfo_URI, sandbox string) error {
	name := u.GetOutputFile()
	if name == "" {
		name = baseName(u.GetValue())
	}
	if err := safeRelative(name); err != nil {
		return err
	}
	dest := filepath.Join(sandbox, name)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	var err error
	if u.GetCache() && f.CacheDir != "" {
		err = f.viaCache(ctx, u.GetValue(), dest)
	} else {
		err = f.download(ctx, u.GetValue(), dest)
	}
	if err != nil {
		return err
	}
	if u.GetExecutable() {
		return os.Chmod(dest, 0o755)
	}
	if (u.Extract == nil || u.GetExtract()) && isArchive(name) {
		if err := extract(dest, sandbox); err != nil {
			return fmt.Errorf("extracting %s: %w", name, err)
		}
	}
	return nil
}

func baseName(uri string) string {
	if p, err := url.Parse(uri); err == nil && p.Path != "" {
		return path.Base(p.Path)
	}
	return path.Base(uri)
}

// safeRelative refuses names that would leave the sandbox.
func safeRelative(name string) error {
	clean := filepath.Clean(name)
	if name == "" || filepath.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." {
		return fmt.Errorf("output file %q must be a path inside the sandbox", name)
	}
	return nil
}

// download copies uri to dest.
func (f *Fetcher) download(ctx context.Context, uri, dest string) error {
	src, err := f.open(ctx, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (f *Fetcher) open(ctx context.Context, uri string) (io.ReadCloser, error) {
	p, err := url.Parse(uri)
	switch {
	case err == nil && (p.Scheme == "http" || p.Scheme == "https"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, err
		}
		client := f.Client
		if client == nil {
			client = http.DefaultClient
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("the server answered %s", resp.Status)
		}
		return resp.Body, nil
	case err == nil && p.Scheme == "file":
		return os.Open(p.Path)
	case filepath.IsAbs(uri):
		return os.Open(uri)
	}
	return nil, errors.New("not an http(s) or file URI, nor an absolute path")
}

// viaCache serves uri from the cache, filling it first if needed.
func (f *Fetcher) viaCache(ctx context.Context, uri, dest string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sum := sha256.Sum256([]byte(uri))
	entry := filepath.Join(f.CacheDir, hex.EncodeToString(sum[:]))
	if _, err := os.Stat(entry); err != nil {
		if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
			return err
		}
		tmp := entry + ".part"
		if err := f.download(ctx, uri, tmp); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, entry); err != nil {
			return err
		}
		f.evict(entry)
	}
	now := time.Now()
	_ = os.Chtimes(entry, now, now) // recently used
	return copyFile(entry, dest)
}

// evict drops least recently used entries beyond CacheSize (never keep).
func (f *Fetcher) evict(keep string) {
	if f.CacheSize <= 0 {
		return
	}
	entries, _ := os.ReadDir(f.CacheDir)
	type item struct {
		path string
		size int64
		used time.Time
	}
	var items []item
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || strings.HasSuffix(e.Name(), ".part") {
			continue
		}
		items = append(items, item{filepath.Join(f.CacheDir, e.Name()), info.Size(), info.ModTime()})
		total += info.Size()
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

func copyFile(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip"}

func isArchive(name string) bool {
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// extract unpacks archive into dir.
func extract(archive, dir string) error {
	if strings.HasSuffix(archive, ".zip") {
		return extractZip(archive, dir)
	}
	file, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer file.Close()
	var r io.Reader = file
	switch {
	case strings.HasSuffix(archive, ".gz") || strings.HasSuffix(archive, ".tgz"):
		gz, err := gzip.NewReader(file)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	case strings.HasSuffix(archive, ".bz2") || strings.HasSuffix(archive, ".tbz2"):
		r = bzip2.NewReader(file)
	case strings.HasSuffix(archive, ".xz") || strings.HasSuffix(archive, ".txz"):
		if r, err = xz.NewReader(file); err != nil {
			return err
		}
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := safeRelative(h.Name); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		target := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeEntry(target, tr, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			// A link out of the sandbox would let a later entry write
			// through it: only links that stay inside are made.
			if filepath.IsAbs(h.Linkname) || safeRelative(filepath.Join(filepath.Dir(h.Name), h.Linkname)) != nil {
				return fmt.Errorf("entry %q links outside the sandbox", h.Name)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		}
	}
}

func extractZip(archive, dir string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if err := safeRelative(zf.Name); err != nil {
			return fmt.Errorf("entry %q: %w", zf.Name, err)
		}
		target := filepath.Join(dir, zf.Name)
		if zf.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		err = writeEntry(target, rc, zf.Mode().Perm())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func writeEntry(target string, r io.Reader, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
