package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/corral-sched/corral/store"
)

// FenceKey is the registry key a master bumps when it starts leading. Its
// version is the master's fence: every registry write is guarded by it,
// so once a newer master has bumped it, the older one can write nothing.
// This closes the gap leader election leaves: a leader paused (SIGSTOP, a
// long GC, a frozen VM) past its ZooKeeper session resumes still believing
// it leads, and its store client silently opens a new session, so without
// the fence its next write would overwrite what its successor wrote.
const FenceKey = "registry/epoch"

// fenceHolder is what FenceKey holds: who took the fence, for operators.
type fenceHolder struct {
	ID      string    `json:"id"`
	Term    string    `json:"term"`
	Address string    `json:"address"`
	Since   time.Time `json:"since"`
}

// takeFence makes this master the registry's only writer and puts its
// Store behind the fence. It runs before the registry is read, so that the
// registry this master recovers is final for every earlier leader.
func (m *Core) takeFence(ctx context.Context) error {
	if m.cfg.Store == nil {
		return nil
	}
	gs, ok := m.cfg.Store.(store.Guarded)
	if !ok {
		return fmt.Errorf("master: registry: the store (%T) cannot guard writes, so a deposed master could overwrite its successor's registry", m.cfg.Store)
	}
	holder, err := json.Marshal(fenceHolder{ID: m.id, Term: m.term, Address: m.cfg.Addr, Since: m.cfg.Now().UTC()})
	if err != nil {
		return fmt.Errorf("master: registry: encoding the fence: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	var g store.Guard
	if alive := m.cfg.LeaderKey; alive != "" {
		// Taken only while our election znode is there: it is never
		// written after it is made, so it stays at its first version.
		e, perr := gs.PutGuarded(tctx, store.Guard{Key: alive, Version: 1}, FenceKey, holder, store.AnyVersion)
		g, err = store.Guard{Key: FenceKey, Version: e.Version, Alive: alive}, perr
	} else {
		g, err = store.TakeFence(tctx, m.cfg.Store, FenceKey, holder)
	}
	if err != nil {
		return fmt.Errorf("master: registry: %w", err)
	}
	m.log.Info("took the registry fence", "key", g.Key, "version", g.Version, "alive", g.Alive)
	// Set before the loop starts, and read only by the loop.
	m.cfg.Store = fencedRegistry(store.Fenced(gs, g), m.depose)
	return nil
}

// fencedRegistry wraps a fenced store so that the first fenced write, by
// whatever path it came, deposes the master.
func fencedRegistry(s store.Store, depose func(error)) store.Store {
	f := &registryFence{Store: s, depose: depose}
	if b, ok := s.(store.Batcher); ok {
		return &batchRegistryFence{registryFence: f, b: b}
	}
	return f
}

type registryFence struct {
	store.Store
	depose func(error)
}

func (f *registryFence) check(err error) error {
	if errors.Is(err, store.ErrFenced) {
		f.depose(err)
	}
	return err
}

func (f *registryFence) Put(ctx context.Context, key string, value []byte, expected int64) (store.Entry, error) {
	e, err := f.Store.Put(ctx, key, value, expected)
	return e, f.check(err)
}

func (f *registryFence) Delete(ctx context.Context, key string, expected int64) error {
	return f.check(f.Store.Delete(ctx, key, expected))
}

type batchRegistryFence struct {
	*registryFence
	b store.Batcher
}

func (f *batchRegistryFence) Apply(ctx context.Context, ops []store.Op) error {
	return f.check(f.b.Apply(ctx, ops))
}

// depose makes the master stop acting as leader: another master took the
// registry's fence, so it leads now (or did after this one). The loop
// notices before it handles anything else; Run returns the cause.
func (m *Core) depose(cause error) {
	m.deposeOnce.Do(func() {
		m.log.Error("another master took over the registry; this one stops leading", "err", cause)
		m.deposedBy = cause
		close(m.deposed)
	})
}

func (m *Core) isDeposed() bool {
	select {
	case <-m.deposed:
		return true
	default:
		return false
	}
}

// deposedErr is why the master was deposed, or nil.
func (m *Core) deposedErr() error {
	if !m.isDeposed() {
		return nil
	}
	return fmt.Errorf("master: deposed: %w", m.deposedBy)
}
