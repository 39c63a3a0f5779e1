package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/corral-sched/corral/internal/fsync"
)

// Folding the log into a snapshot happens beside the writes, not in their
// way. A standalone master's registry of 50,000 agents makes a snapshot of
// tens of megabytes, and writing it inline held every write behind it (the
// master's admissions of agents among them) for seconds.
//
// Under the lock the log is renamed store.log.old and a new store.log
// started; a goroutine writes the snapshot of the entries as they were at
// that moment (temporary file, fsync, rename, fsync of the directory) and
// then removes store.log.old. Reopening replays store.log.old, if it is
// still there, and then store.log over the snapshot. Every logged change
// sets a key to a whole value (or deletes it), so replaying store.log.old
// over a snapshot that already holds it changes nothing: a crash at any
// step leaves a directory that opens to the last durable state.

// foldHook, when set (by tests), is called at each stage of a fold:
// "moved" once the log is aside, "written" once the snapshot is durable
// and store.log.old not yet removed.
var foldHook func(stage string)

// startFoldLocked starts folding the log into a new snapshot. Failures
// only make the fold late: the logs still hold every change.
func (l *Local) startFoldLocked() {
	if _, err := os.Stat(l.oldLogPath); err != nil {
		if !l.moveLogAsideLocked() {
			return
		}
	}
	// Otherwise an earlier fold failed after moving its log aside. A
	// snapshot of the entries now covers that log as well as a prefix of
	// this one, which stays where it is (and is replayed after the old
	// one), so it can be folded without moving this log too.
	all := make([]Entry, 0, len(l.entries))
	for _, e := range l.entries {
		all = append(all, e) // values are never changed in place
	}
	done := make(chan struct{})
	l.folding = done
	go func() {
		defer close(done)
		size, err := l.fold(all)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.folding = nil
		if err != nil {
			// Try again once the log has doubled, not on every write.
			l.snap = max(l.snap, l.logSize)
			return
		}
		l.snap = size
	}()
}

// moveLogAsideLocked renames the log store.log.old and starts a new one;
// false if the log stays where it was.
func (l *Local) moveLogAsideLocked() bool {
	if err := os.Rename(l.logPath, l.oldLogPath); err != nil {
		return false
	}
	f, err := os.OpenFile(l.logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		if err = fsync.Dir(filepath.Dir(l.logPath)); err != nil {
			f.Close()
		}
	}
	if err != nil {
		// Keep appending where the log was (the open file follows it).
		_ = os.Rename(l.oldLogPath, l.logPath)
		return false
	}
	_ = l.log.Close()
	l.log, l.logSize = f, 0
	return true
}

// fold writes all as the snapshot, then drops the log it replaces, and
// returns the snapshot's size.
func (l *Local) fold(all []Entry) (int64, error) {
	if foldHook != nil {
		foldHook("moved")
	}
	size, err := l.writeSnapshot(all)
	if err != nil {
		return 0, err
	}
	if foldHook != nil {
		foldHook("written")
	}
	if err := os.Remove(l.oldLogPath); err != nil && !os.IsNotExist(err) {
		return 0, fmt.Errorf("store: %w", err)
	}
	return size, nil
}

// writeSnapshot writes all durably as the snapshot.
func (l *Local) writeSnapshot(all []Entry) (int64, error) {
	slices.SortFunc(all, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	b, err := json.Marshal(all)
	if err != nil {
		return 0, fmt.Errorf("store: encoding: %w", err)
	}
	tmp := l.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return 0, fmt.Errorf("store: writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("store: syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if err := fsync.Dir(filepath.Dir(l.path)); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return int64(len(b)), nil
}

// replayOld applies a log a fold had not yet removed when the store was
// last closed or the process died. It was whole when it was moved aside;
// a torn tail can only be a write that never happened.
func (l *Local) replayOld() error {
	f, err := os.Open(l.oldLogPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	_, _, err = l.applyLog(f, l.oldLogPath)
	return err
}
