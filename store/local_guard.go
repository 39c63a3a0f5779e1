package store

import (
	"context"
	"fmt"
)

// Local checks a guard under the lock every write takes, so the check and
// the write are one step: a fence taken by another user of the same store
// (a second master in this process) is seen by the next write.

// PutGuarded implements Guarded.
func (l *Local) PutGuarded(_ context.Context, g Guard, key string, value []byte, expected int64) (Entry, error) {
	if err := g.validate(); err != nil {
		return Entry{}, err
	}
	return l.put(&g, key, value, expected)
}

// DeleteGuarded implements Guarded.
func (l *Local) DeleteGuarded(_ context.Context, g Guard, key string, expected int64) error {
	if err := g.validate(); err != nil {
		return err
	}
	return l.delete(&g, key, expected)
}

// ApplyGuarded implements GuardedBatcher.
func (l *Local) ApplyGuarded(_ context.Context, g Guard, ops []Op) error {
	if err := g.validate(); err != nil {
		return err
	}
	return l.apply(&g, ops)
}

// checkGuardLocked fails with ErrFenced unless g (if any) holds.
func (l *Local) checkGuardLocked(g *Guard) error {
	if g == nil {
		return nil
	}
	if at := l.entries[g.Key].Version; at != g.Version {
		return g.fenced(at)
	}
	if _, ok := l.entries[g.Alive]; g.Alive != "" && !ok {
		return fmt.Errorf("%w: %s is gone", ErrFenced, g.Alive)
	}
	return nil
}
