package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrFenced means a guarded write was refused because its guard key is no
// longer at the guard's version: a newer writer has taken the fence, and
// the one holding this guard must stop writing (and stop acting on what it
// believes it owns). Retrying cannot succeed.
var ErrFenced = errors.New("store: fenced: a newer writer holds the guard key")

// Guard names a key and the version it must still be at for a write to
// happen. The check and the write are one atomic step in the store, so no
// write slips in after the guard key has moved on.
type Guard struct {
	Key     string
	Version int64
	// Alive, if set, is a key that must exist too: the writer's election
	// znode, which goes with its session. A writer whose leadership ended
	// then writes nothing more, even while nobody has taken the fence yet
	// (no successor elected, ZooKeeper too slow to tell it).
	Alive string
}

func (g Guard) validate() error {
	if err := ValidateKey(g.Key); err != nil {
		return fmt.Errorf("store: guard: %w", err)
	}
	if g.Version < 1 {
		return fmt.Errorf("store: guard on %s: version %d, want 1 or more", g.Key, g.Version)
	}
	if g.Alive != "" {
		if err := ValidateKey(g.Alive); err != nil {
			return fmt.Errorf("store: guard: alive: %w", err)
		}
	}
	return nil
}

func (g Guard) fenced(at int64) error {
	return fmt.Errorf("%w: %s is at version %d, not %d", ErrFenced, g.Key, at, g.Version)
}

// Guarded is a Store that can make a write conditional on another key's
// version. Both Local and ZooKeeper are.
type Guarded interface {
	Store
	// PutGuarded is Put, done only if g holds; ErrFenced if it does not.
	PutGuarded(ctx context.Context, g Guard, key string, value []byte, expected int64) (Entry, error)
	// DeleteGuarded is Delete, done only if g holds; ErrFenced if it does
	// not.
	DeleteGuarded(ctx context.Context, g Guard, key string, expected int64) error
}

// GuardedBatcher is a Batcher whose batches can be guarded too.
type GuardedBatcher interface {
	ApplyGuarded(ctx context.Context, g Guard, ops []Op) error
}

var (
	_ Guarded        = (*Local)(nil)
	_ GuardedBatcher = (*Local)(nil)
	_ Guarded        = (*ZooKeeper)(nil)
)

// TakeFence makes the caller the only writer through Fenced views of key:
// it writes holder (who took it, for operators) to key and returns the
// guard at the version written. Every guard taken before is fenced from
// then on. The write is unconditional: whoever takes the fence last wins,
// which is what a newly elected leader needs.
func TakeFence(ctx context.Context, s Store, key string, holder []byte) (Guard, error) {
	e, err := s.Put(ctx, key, holder, AnyVersion)
	if err != nil {
		return Guard{}, fmt.Errorf("store: taking the fence %s: %w", key, err)
	}
	return Guard{Key: key, Version: e.Version}, nil
}

// Fenced returns a view of s whose Put and Delete (and Apply, when s can
// guard batches) happen only while g holds, and fail with ErrFenced once
// someone has taken the fence since. Reads and watches go straight to s.
// Closing the view does not close s.
func Fenced(s Guarded, g Guard) Store {
	f := &fenced{s: s, g: g}
	if b, ok := s.(GuardedBatcher); ok {
		return &fencedBatcher{fenced: f, b: b}
	}
	return f
}

type fenced struct {
	s Guarded
	g Guard
}

func (f *fenced) Get(ctx context.Context, key string) (Entry, error) { return f.s.Get(ctx, key) }

func (f *fenced) Put(ctx context.Context, key string, value []byte, expected int64) (Entry, error) {
	return f.s.PutGuarded(ctx, f.g, key, value, expected)
}

func (f *fenced) Delete(ctx context.Context, key string, expected int64) error {
	return f.s.DeleteGuarded(ctx, f.g, key, expected)
}

func (f *fenced) List(ctx context.Context, prefix string) ([]Entry, error) {
	return f.s.List(ctx, prefix)
}

func (f *fenced) Watch(ctx context.Context, key string) (<-chan Entry, error) {
	return f.s.Watch(ctx, key)
}

// Close implements Store; the view does not own s.
func (f *fenced) Close() error { return nil }

// fencedBatcher is a fenced view that keeps the store's batching, so that
// callers looking for a Batcher still find one.
type fencedBatcher struct {
	*fenced
	b GuardedBatcher
}

func (f *fencedBatcher) Apply(ctx context.Context, ops []Op) error {
	return f.b.ApplyGuarded(ctx, f.g, ops)
}

var _ Batcher = (*fencedBatcher)(nil)
