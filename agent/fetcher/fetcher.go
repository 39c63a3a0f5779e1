package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Default bounds on one archive: generous for real artifacts, yet a zip
// bomb stops with an error long before the disk fills.
const (
	DefaultMaxExtractBytes   = 10 << 30
	DefaultMaxExtractEntries = 1_000_000
)

// Fetcher fetches URIs into sandboxes, as the user each task runs as. The
// zero value fetches without a cache, with the default extraction bounds.
type Fetcher struct {
	// CacheDir, if set, keeps URIs marked cache, one directory per uid;
	// CacheSize bounds it (least recently used entries go first, across
	// all users).
	CacheDir  string
	CacheSize int64
	Client    *http.Client
	// MaxExtractBytes and MaxExtractEntries bound what one archive may
	// write (zero: DefaultMaxExtractBytes, DefaultMaxExtractEntries).
	MaxExtractBytes   int64
	MaxExtractEntries int

	mu sync.Mutex // one cache writer at a time
}

// Fetch fetches uris into sandbox as user: the task's user, or "" for the
// agent's own. When the agent runs as root and user is another uid, the
// sandbox directory is handed to user and every file is read and written
// with user's permissions (see the package doc).
func (f *Fetcher) Fetch(ctx context.Context, uris []*mesospb.CommandInfo_URI, sandbox, user string) error {
	id, err := lookupIdentity(user)
	if err != nil {
		return fmt.Errorf("fetching into %s: %w", sandbox, err)
	}
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		return fmt.Errorf("fetching into %s: %w", sandbox, err)
	}
	box, err := openTree(sandbox)
	if err != nil {
		return fmt.Errorf("fetching into %s: %w", sandbox, err)
	}
	defer box.close()
	if id.switched {
		if err := box.chown(id.uid, id.gid); err != nil {
			return fmt.Errorf("giving sandbox %s to user %s: %w", sandbox, id.name, err)
		}
	}
	w, err := startWorker(id)
	if err != nil {
		return fmt.Errorf("fetching into %s: %w", sandbox, err)
	}
	defer w.stop()
	for _, u := range uris {
		if err := f.fetchOne(ctx, u, box, id, w); err != nil {
			return fmt.Errorf("fetching %s: %w", u.GetValue(), err)
		}
	}
	return nil
}

func (f *Fetcher) fetchOne(ctx context.Context, u *mesospb.CommandInfo_URI, box *tree, id identity, w *worker) error {
	name := u.GetOutputFile()
	if name == "" {
		name = baseName(u.GetValue())
	}
	if err := safeRelative(name); err != nil {
		return err
	}
	name = filepath.Clean(name)
	var err error
	if u.GetCache() && f.CacheDir != "" {
		err = f.viaCache(ctx, u.GetValue(), box, name, u.GetExecutable(), id, w)
	} else {
		err = w.do(func() error { return f.download(ctx, u.GetValue(), box, name, u.GetExecutable()) })
	}
	if err != nil || u.GetExecutable() {
		return err
	}
	if (u.Extract == nil || u.GetExtract()) && isArchive(name) {
		lim := f.limits()
		if err := w.do(func() error { return extract(box, name, lim) }); err != nil {
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
	if name == "" || !filepath.IsLocal(name) || filepath.Clean(name) == "." {
		return fmt.Errorf("output file %q must be a path inside the sandbox", name)
	}
	return nil
}

// download copies uri to name inside dir. It runs with the fetch's
// credentials.
func (f *Fetcher) download(ctx context.Context, uri string, dir *tree, name string, executable bool) error {
	src, err := f.open(ctx, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	return writeFrom(dir, name, src, executable)
}

// writeFrom creates name inside dir (replacing what was there) from r.
func writeFrom(dir *tree, name string, r io.Reader, executable bool) error {
	out, err := dir.create(name, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if executable {
		if err := out.Chmod(0o755); err != nil {
			out.Close()
			return err
		}
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
		return openLocal(p.Path)
	case filepath.IsAbs(uri):
		return openLocal(uri)
	}
	return nil, errors.New("not an http(s) or file URI, nor an absolute path")
}

// openLocal opens a host file with the fetch's credentials. Only regular
// files outside /proc: a FIFO would hang the fetch (and, through the cache
// lock, every other one) and /dev/zero would never end. O_NONBLOCK lets a
// FIFO be opened, and so refused, without waiting for a writer.
func openLocal(name string) (*os.File, error) {
	file, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("%s is not a regular file (%v)", name, info.Mode().Type())
	}
	if err := notProc(file); err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
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

func (f *Fetcher) limits() limits {
	lim := limits{bytes: f.MaxExtractBytes, entries: f.MaxExtractEntries}
	if lim.bytes <= 0 {
		lim.bytes = DefaultMaxExtractBytes
	}
	if lim.entries <= 0 {
		lim.entries = DefaultMaxExtractEntries
	}
	return lim
}
