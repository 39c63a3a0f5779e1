package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Local is a Store in a directory, for a standalone master or framework:
// a snapshot (store.json, written atomically: temporary file, fsync,
// rename, fsync of the directory) and a log of the changes since
// (store.log: one JSON line per write or batch, fsynced before the write
// returns). Reopening replays the log over the snapshot; a torn last line
// (a crash mid-write) is dropped, so a batch applies whole or not at all.
// The log is folded into a new snapshot once it outgrows it: a write costs
// one append, not a rewrite of everything.
type Local struct {
	path       string
	logPath    string
	oldLogPath string // a log being folded (see local_fold.go)

	mu       sync.Mutex
	log      *os.File                         // guarded by mu
	logSize  int64                            // guarded by mu
	snap     int64                            // guarded by mu; size of the last snapshot
	folding  chan struct{}                    // guarded by mu; closed when the running fold ends, nil if none
	entries  map[string]Entry                 // guarded by mu
	watchers map[string]map[chan Entry]func() // guarded by mu; key → channel → its nudge
	closed   bool                             // guarded by mu
}

var (
	_ Store   = (*Local)(nil)
	_ Batcher = (*Local)(nil)
)

// OpenLocal opens (or creates) the store kept in dir.
func OpenLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	l := &Local{path: filepath.Join(dir, "store.json"), logPath: filepath.Join(dir, "store.log"),
		oldLogPath: filepath.Join(dir, "store.log.old"), entries: make(map[string]Entry),
		watchers: make(map[string]map[chan Entry]func())}
	b, err := os.ReadFile(l.path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("store: reading %s: %w", l.path, err)
	default:
		var saved []Entry
		if err := json.Unmarshal(b, &saved); err != nil {
			return nil, fmt.Errorf("store: %s is corrupt: %w", l.path, err)
		}
		for _, e := range saved {
			if err := ValidateKey(e.Key); err != nil || e.Version < 1 {
				return nil, fmt.Errorf("store: %s holds an invalid entry %q (version %d)", l.path, e.Key, e.Version)
			}
			l.entries[e.Key] = e
		}
		l.snap = int64(len(b))
	}
	if err := l.replayOld(); err != nil {
		return nil, err
	}
	if err := l.replay(); err != nil {
		return nil, err
	}
	return l, nil
}

// logRecord is one durable write: the resulting state of the keys it
// changed.
type logRecord struct {
	Ops []logOp `json:"ops"`
}

type logOp struct {
	Key     string `json:"k"`
	Value   []byte `json:"v,omitempty"`
	Version int64  `json:"n,omitempty"`
	Deleted bool   `json:"d,omitempty"`
}

// replay applies the log over the snapshot and opens it for appending.
func (l *Local) replay() error {
	f, err := os.OpenFile(l.logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	offset, torn, err := l.applyLog(f, l.logPath)
	if err == nil && torn {
		// The last write was torn by a crash: it never happened.
		if err = f.Truncate(offset); err != nil {
			err = fmt.Errorf("store: dropping a torn write from %s: %w", l.logPath, err)
		}
	}
	if err == nil {
		if _, err = f.Seek(offset, io.SeekStart); err != nil {
			err = fmt.Errorf("store: %w", err)
		}
	}
	if err != nil {
		f.Close()
		return err
	}
	l.log, l.logSize = f, offset
	return nil
}

// applyLog applies the records of the log in f to the entries. It
// returns the offset after the last whole record and whether a torn one
// (the tail of a write a crash cut short) follows it.
func (l *Local) applyLog(f *os.File, path string) (offset int64, torn bool, err error) {
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return offset, false, nil
		}
		var rec logRecord
		complete := err == nil
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("store: reading %s: %w", path, err)
		}
		if !complete || json.Unmarshal(line, &rec) != nil {
			if _, more := r.Peek(1); more == nil {
				return 0, false, fmt.Errorf("store: %s is corrupt at byte %d", path, offset)
			}
			return offset, true, nil
		}
		for _, op := range rec.Ops {
			if ValidateKey(op.Key) != nil || (!op.Deleted && op.Version < 1) {
				return 0, false, fmt.Errorf("store: %s holds an invalid change of %q at byte %d", path, op.Key, offset)
			}
			if op.Deleted {
				delete(l.entries, op.Key)
			} else {
				l.entries[op.Key] = Entry{Key: op.Key, Value: op.Value, Version: op.Version}
			}
		}
		offset += int64(len(line))
	}
}

// saveLocked makes the current state of keys durable: one appended line,
// fsynced; the log is folded into a snapshot when it has grown past it.
func (l *Local) saveLocked(keys ...string) error {
	rec := logRecord{Ops: make([]logOp, 0, len(keys))}
	for _, k := range keys {
		if e, ok := l.entries[k]; ok {
			rec.Ops = append(rec.Ops, logOp{Key: k, Value: e.Value, Version: e.Version})
		} else {
			rec.Ops = append(rec.Ops, logOp{Key: k, Deleted: true})
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: encoding: %w", err)
	}
	b = append(b, '\n')
	if _, err := l.log.Write(b); err != nil {
		// Cut back what may have gone out, so the log stays whole.
		_ = l.log.Truncate(l.logSize)
		_, _ = l.log.Seek(l.logSize, io.SeekStart)
		return fmt.Errorf("store: writing %s: %w", l.logPath, err)
	}
	if err := l.log.Sync(); err != nil {
		_ = l.log.Truncate(l.logSize)
		_, _ = l.log.Seek(l.logSize, io.SeekStart)
		return fmt.Errorf("store: syncing %s: %w", l.logPath, err)
	}
	l.logSize += int64(len(b))
	if l.logSize > compactAt && l.logSize > 2*l.snap && l.folding == nil {
		l.startFoldLocked()
	}
	return nil
}

// compactAt is the log size below which it is never folded.
var compactAt int64 = 4 << 20

// Get implements Store.
func (l *Local) Get(_ context.Context, key string) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Entry{}, ErrClosed
	}
	e, ok := l.entries[key]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return clone(e), nil
}

// Put implements Store.
func (l *Local) Put(_ context.Context, key string, value []byte, expected int64) (Entry, error) {
	return l.put(nil, key, value, expected)
}

func (l *Local) put(g *Guard, key string, value []byte, expected int64) (Entry, error) {
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	if err := l.lockGuarded(g); err != nil {
		return Entry{}, err
	}
	defer l.mu.Unlock()
	old := l.entries[key]
	if expected != AnyVersion && old.Version != expected {
		return Entry{}, fmt.Errorf("%w: %s is at version %d, not %d", ErrConflict, key, old.Version, expected)
	}
	e := Entry{Key: key, Value: slices.Clone(value), Version: old.Version + 1}
	l.entries[key] = e
	if err := l.saveLocked(key); err != nil {
		if old.Version == 0 {
			delete(l.entries, key)
		} else {
			l.entries[key] = old
		}
		return Entry{}, err
	}
	l.notifyLocked(key)
	return clone(e), nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, key string, expected int64) error {
	return l.delete(nil, key, expected)
}

func (l *Local) delete(g *Guard, key string, expected int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := l.lockGuarded(g); err != nil {
		return err
	}
	defer l.mu.Unlock()
	old, ok := l.entries[key]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if expected != AnyVersion && old.Version != expected {
		return fmt.Errorf("%w: %s is at version %d, not %d", ErrConflict, key, old.Version, expected)
	}
	delete(l.entries, key)
	if err := l.saveLocked(key); err != nil {
		l.entries[key] = old
		return err
	}
	l.notifyLocked(key)
	return nil
}

// List implements Store.
func (l *Local) List(_ context.Context, prefix string) ([]Entry, error) {
	if err := ValidateKey(prefix); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	var out []Entry
	for k, e := range l.entries {
		if rest, ok := strings.CutPrefix(k, prefix+"/"); ok && !strings.Contains(rest, "/") {
			out = append(out, clone(e))
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Watch implements Store.
func (l *Local) Watch(ctx context.Context, key string) (<-chan Entry, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	out := make(chan Entry)
	nudge := make(chan struct{}, 1)
	nudge <- struct{}{}
	if l.watchers[key] == nil {
		l.watchers[key] = make(map[chan Entry]func())
	}
	l.watchers[key][out] = func() {
		select {
		case nudge <- struct{}{}:
		default:
		}
	}
	go func() {
		defer func() {
			l.mu.Lock()
			delete(l.watchers[key], out)
			l.mu.Unlock()
			close(out)
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-nudge:
			}
			l.mu.Lock()
			e, closed := clone(l.entries[key]), l.closed
			l.mu.Unlock()
			if closed {
				return
			}
			e.Key = key
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Close implements Store.
func (l *Local) Close() error {
	l.mu.Lock()
	if !l.closed && l.log != nil {
		_ = l.log.Close()
	}
	l.closed = true
	for _, ws := range l.watchers {
		for _, nudge := range ws {
			nudge()
		}
	}
	folding := l.folding
	l.mu.Unlock()
	if folding != nil {
		<-folding // the directory is whole when Close returns
	}
	return nil
}

func (l *Local) notifyLocked(key string) {
	for _, nudge := range l.watchers[key] {
		nudge()
	}
}

func clone(e Entry) Entry {
	e.Value = slices.Clone(e.Value)
	return e
}

// Apply implements Batcher: every change is made, then the file is
// rewritten once; on failure none of them is.
func (l *Local) Apply(_ context.Context, ops []Op) error { return l.apply(nil, ops) }

func (l *Local) apply(g *Guard, ops []Op) error {
	for _, op := range ops {
		if err := ValidateKey(op.Key); err != nil {
			return err
		}
	}
	if err := l.lockGuarded(g); err != nil {
		return err
	}
	defer l.mu.Unlock()
	undo := make(map[string]Entry, len(ops))
	for _, op := range ops {
		old, had := l.entries[op.Key]
		if _, seen := undo[op.Key]; !seen {
			undo[op.Key] = old // Version 0: was absent
		}
		switch {
		case op.Delete && had:
			delete(l.entries, op.Key)
		case !op.Delete:
			l.entries[op.Key] = Entry{Key: op.Key, Value: slices.Clone(op.Value), Version: old.Version + 1}
		}
	}
	if err := l.saveLocked(slices.Collect(maps.Keys(undo))...); err != nil {
		for key, old := range undo {
			if old.Version == 0 {
				delete(l.entries, key)
			} else {
				l.entries[key] = old
			}
		}
		return err
	}
	for key := range undo {
		l.notifyLocked(key)
	}
	return nil
}

// lockGuarded takes l's lock for a write under g (nil: unguarded). It
// returns with the lock held only when it returns nil.
func (l *Local) lockGuarded(g *Guard) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := l.checkGuardLocked(g); err != nil {
		l.mu.Unlock()
		return err
	}
	return nil
}
