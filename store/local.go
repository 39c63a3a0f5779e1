package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Local is a Store in one file under a directory, for a standalone master
// or framework. The whole state is rewritten atomically (temporary file,
// fsync, rename, fsync of the directory) on every write: right for the
// registry's size, and simple enough to trust.
type Local struct {
	path string

	mu       sync.Mutex
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
	l := &Local{path: filepath.Join(dir, "store.json"), entries: make(map[string]Entry),
		watchers: make(map[string]map[chan Entry]func())}
	b, err := os.ReadFile(l.path)
	switch {
	case os.IsNotExist(err):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("store: reading %s: %w", l.path, err)
	}
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
	return l, nil
}

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
	if err := ValidateKey(key); err != nil {
		return Entry{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Entry{}, ErrClosed
	}
	old := l.entries[key]
	if expected != AnyVersion && old.Version != expected {
		return Entry{}, fmt.Errorf("%w: %s is at version %d, not %d", ErrConflict, key, old.Version, expected)
	}
	e := Entry{Key: key, Value: slices.Clone(value), Version: old.Version + 1}
	l.entries[key] = e
	if err := l.saveLocked(); err != nil {
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
	if err := ValidateKey(key); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	old, ok := l.entries[key]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if expected != AnyVersion && old.Version != expected {
		return fmt.Errorf("%w: %s is at version %d, not %d", ErrConflict, key, old.Version, expected)
	}
	delete(l.entries, key)
	if err := l.saveLocked(); err != nil {
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
	defer l.mu.Unlock()
	l.closed = true
	for _, ws := range l.watchers {
		for _, nudge := range ws {
			nudge()
		}
	}
	return nil
}

func (l *Local) notifyLocked(key string) {
	for _, nudge := range l.watchers[key] {
		nudge()
	}
}

// saveLocked writes every entry durably.
func (l *Local) saveLocked() error {
	all := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	b, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("store: encoding: %w", err)
	}
	tmp := l.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("store: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d, err := os.Open(filepath.Dir(l.path))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: syncing %s: %w", filepath.Dir(l.path), err)
	}
	return nil
}

func clone(e Entry) Entry {
	e.Value = slices.Clone(e.Value)
	return e
}

// Apply implements Batcher: every change is made, then the file is
// rewritten once; on failure none of them is.
func (l *Local) Apply(_ context.Context, ops []Op) error {
	for _, op := range ops {
		if err := ValidateKey(op.Key); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
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
	if err := l.saveLocked(); err != nil {
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
