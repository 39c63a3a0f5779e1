package kit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/corral-sched/corral/store"
)

// write applies ops, writes before deletes: as one batch when the store
// can and the options allow, else key by key.
func (d *Durable) write(ctx context.Context, ops []store.Op) error {
	if b, ok := d.store.(store.Batcher); ok && !d.opts.Unbatched {
		if err := b.Apply(ctx, ops); err != nil {
			return fmt.Errorf("%s: writing %d changes: %w", d.opts.Name, len(ops), err)
		}
		return nil
	}
	var writes, deletes []store.Op
	for _, op := range ops {
		if op.Delete {
			deletes = append(deletes, op)
		} else {
			writes = append(writes, op)
		}
	}
	if err := d.each(writes, func(op store.Op) error {
		if _, err := d.store.Put(ctx, op.Key, op.Value, store.AnyVersion); err != nil {
			return fmt.Errorf("%s: writing %s: %w", d.opts.Name, op.Key, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return d.each(deletes, func(op store.Op) error {
		err := d.store.Delete(ctx, op.Key, store.AnyVersion)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: deleting %s: %w", d.opts.Name, op.Key, err)
		}
		return nil
	})
}

// each calls fn for every op, Parallel at a time, and returns the first
// error. One at a time, it stops at the first error, as a sequence of
// writes does; in parallel, what has started finishes.
func (d *Durable) each(ops []store.Op, fn func(store.Op) error) error {
	if d.opts.Parallel <= 1 {
		for _, op := range ops {
			if err := fn(op); err != nil {
				return err
			}
		}
		return nil
	}
	var mu sync.Mutex
	var first error
	Parallel(ops, d.opts.Parallel, func(op store.Op) {
		if err := fn(op); err != nil {
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				first = err
			}
		}
	})
	return first
}

// Parallel calls fn for every item, workers at a time, and waits.
func Parallel[T any](items []T, workers int, fn func(T)) {
	if len(items) <= 1 || workers <= 1 {
		for _, it := range items {
			fn(it)
		}
		return
	}
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}
