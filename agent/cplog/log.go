package cplog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrClosed is returned by the writes of a closed Log.
var ErrClosed = errors.New("cplog: closed")

// compactMin is the size below which a log is never rewritten.
var compactMin int64 = 1 << 20

// appendFile is what a Log needs of its file: a seam for injecting
// faults in tests.
type appendFile interface {
	io.Writer
	Truncate(size int64) error
	Sync() error
	Close() error
}

// Log is an open checkpoint log.
type Log struct {
	dir  string
	path string
	log  *slog.Logger

	mu   sync.Mutex
	f    appendFile        // guarded by mu; opened O_APPEND
	size int64             // guarded by mu; bytes of valid records in f
	live map[string][]byte // guarded by mu; key → its put record, as framed
	// liveSize is the bytes of live's records: the size of a compacted
	// log. Guarded by mu.
	liveSize int64
	// broken is set when f may end in part of a record, or holds damage
	// to set aside: the next write rewrites the log first. Guarded by mu.
	broken bool
	// setAside, when not "", is where a damaged f goes before it is
	// replaced. Guarded by mu.
	setAside string
	// nextCompact delays compaction after a failed one. Guarded by mu.
	nextCompact int64
	closed      bool // guarded by mu
	hooks       hooks
}

// hooks let tests inject faults; zero in production.
type hooks struct {
	wrap  func(appendFile) appendFile // applied to every file the log appends to
	crash func(step string) bool      // true: stop a rewrite at step as a crash would
}

var errCrashed = errors.New("cplog: stopped by a test as a crash would")

// Open opens the log kept in dir, creating it if need be, and returns the
// live records (key → value). Damage is repaired as the package
// documentation says; only a failure to read or write the directory is
// an error.
func Open(dir string, log *slog.Logger) (*Log, map[string][]byte, error) {
	return open(dir, log, hooks{})
}

func open(dir string, log *slog.Logger, h hooks) (*Log, map[string][]byte, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("cplog: %w", err)
	}
	l := &Log{dir: dir, path: filepath.Join(dir, "log"), log: log, hooks: h}
	tmp := l.path + ".tmp"
	if _, err := os.Stat(l.path); errors.Is(err, fs.ErrNotExist) {
		// Only a crash between setting a damaged log aside and renaming
		// its synced replacement into place leaves log.tmp alone.
		if err := os.Rename(tmp, l.path); err == nil {
			log.Warn("checkpoint log: adopted the rewritten log an interrupted repair left", "path", l.path)
		}
	} else if err := os.Remove(tmp); err == nil {
		log.Info("checkpoint log: removed what an interrupted compaction left", "path", tmp)
	}
	data, err := os.ReadFile(l.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("cplog: reading %s: %w", l.path, err)
	}
	r := replay(data)
	l.live, l.liveSize, l.size = r.live, r.size, r.end
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("cplog: %w", err)
	}
	l.f = l.wrap(f)
	switch r.how {
	case torn:
		log.Warn("checkpoint log: dropped the torn record a crash left at its end", "path", l.path,
			"offset", r.end, "bytes", int64(len(data))-r.end)
		if err := l.f.Truncate(r.end); err != nil {
			log.Error("checkpoint log: could not cut off its torn end; it is rewritten on the next write", "path", l.path, "err", err)
			l.broken = true
		}
	case corrupt:
		l.setAside = filepath.Join(dir, fmt.Sprintf("log.%d.corrupt", time.Now().UnixNano()))
		log.Error("checkpoint log: damaged in the middle; the records before the damage are kept, the file set aside",
			"path", l.path, "offset", r.end, "records kept", len(r.live), "set aside as", l.setAside)
		l.broken = true
		if err := l.rewriteLocked(); err != nil {
			log.Error("checkpoint log: could not rewrite it yet; retried on the next write", "path", l.path, "err", err)
		}
	}
	values := make(map[string][]byte, len(l.live))
	for k, rec := range l.live {
		r, _, _ := decode(rec)
		values[k] = append([]byte(nil), r.value...)
	}
	return l, values, nil
}

func (l *Log) wrap(f *os.File) appendFile {
	if l.hooks.wrap != nil {
		return l.hooks.wrap(f)
	}
	return f
}

// Put records value as key's. value is not retained.
func (l *Log) Put(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > maxBody-maxKey-8 {
		return fmt.Errorf("cplog: the value of %q is %d bytes, more than a record holds", key, len(value))
	}
	rec := encode(opPut, key, value)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.appendLocked(rec); err != nil {
		return fmt.Errorf("cplog: recording %q in %s: %w", key, l.path, err)
	}
	l.liveSize += int64(len(rec)) - int64(len(l.live[key]))
	l.live[key] = rec
	l.compactLocked()
	return nil
}

// Delete removes key; deleting a key that is not there writes nothing.
func (l *Log) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.live[key]
	if !ok {
		if l.closed {
			return ErrClosed
		}
		return nil
	}
	if err := l.appendLocked(encode(opDelete, key, nil)); err != nil {
		return fmt.Errorf("cplog: deleting %q from %s: %w", key, l.path, err)
	}
	l.liveSize -= int64(len(old))
	delete(l.live, key)
	l.compactLocked()
	return nil
}

func checkKey(key string) error {
	if key == "" || len(key) > maxKey {
		return fmt.Errorf("cplog: a key is 1 to %d bytes, not %d", maxKey, len(key))
	}
	return nil
}

// appendLocked writes rec in one write(2) at the end of the log.
func (l *Log) appendLocked(rec []byte) error {
	if l.closed {
		return ErrClosed
	}
	if l.broken {
		if err := l.rewriteLocked(); err != nil {
			return fmt.Errorf("rewriting the log after an earlier failure: %w", err)
		}
	}
	n, err := l.f.Write(rec)
	if err != nil {
		_ = n // part of it may have gone out all the same
		// Cut what went out, so the next record does not follow half of
		// this one.
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = true
		}
		return err
	}
	l.size += int64(n)
	return nil
}

// compactLocked rewrites the log once it has outgrown its live records;
// a failure only postpones it, since the log still holds everything.
func (l *Log) compactLocked() {
	if l.size <= max(compactMin, 2*l.liveSize) || l.size < l.nextCompact {
		return
	}
	if err := l.rewriteLocked(); err != nil {
		l.nextCompact = l.size + compactMin
		l.log.Warn("checkpoint log: could not compact; it goes on growing", "path", l.path, "size", l.size, "err", err)
	}
}

// Sync makes every record written so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("cplog: syncing %s: %w", l.path, err)
	}
	return nil
}

// Len is the number of live records.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.live)
}

// Close closes the log; its records are in the kernel already.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("cplog: closing %s: %w", l.path, err)
	}
	return nil
}
