package kit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/corral-sched/corral/store"
)

// Durable is a framework's group commit to its store.Store: handlers and
// the tick mark records that changed, and Flush writes them all (and
// deletes what was removed) before the framework acknowledges the status
// updates or answers the requests that changed them, so that a change is
// durable before it is reported as done (DESIGN §3).
//
// The framework's lock, given to NewDurable, guards the records and what
// Durable keeps pending: every method but Flush is called with it held,
// as the framework changes its records under it anyway. Flush takes it
// itself while it encodes, and writes without it.
type Durable struct {
	store store.Store
	mu    sync.Locker // the framework's lock
	opts  DurableOptions

	// Guarded by mu.
	tables  []*Table
	puts    map[string][]byte // raw values to write, by key
	deletes []string

	flushMu sync.Mutex // one writer to the store at a time
}

// DurableOptions are how a framework writes. They keep the frameworks'
// differences from before the kit, each of which the frameworks' tests
// were written against.
type DurableOptions struct {
	// Name prefixes errors, e.g. "service".
	Name string
	// Parallel is how many keys go to a store that cannot batch at once,
	// writes first, then deletes; 0 or 1 writes them one at a time, in
	// order. The service framework writes 16 at a time: a 1,000-instance
	// app writes 1,000 keys at once, and ZooKeeper round trips dominate.
	Parallel int
	// Unbatched writes key by key even to a store.Batcher. The batch
	// framework has always written so; one batch would make its flushes
	// all-or-nothing where they were not.
	Unbatched bool
}

// NewDurable returns the group commit of a framework whose records mu
// guards.
func NewDurable(st store.Store, mu sync.Locker, opts DurableOptions) *Durable {
	return &Durable{store: st, mu: mu, opts: opts, puts: make(map[string][]byte)}
}

// Table is one kind of record, stored as one key per record under a
// prefix.
type Table struct {
	prefix string
	name   func(id string) string
	encode func(id string) ([]byte, bool, error)
	dirty  map[string]bool // guarded by the framework's lock
	d      *Durable
}

// Table registers a kind of record stored under prefix. encode returns a
// record's stored form, or false when the record no longer exists (a
// record marked, then removed without Remove, is not written); Flush calls
// it with the framework's lock held. A flush writes the tables' records
// in the order the tables were registered (but for Parallel writes),
// then the values Put, then deletes.
func (d *Durable) Table(prefix string, encode func(id string) (value []byte, ok bool, err error)) *Table {
	t := &Table{prefix: prefix, encode: encode, dirty: make(map[string]bool), d: d}
	d.tables = append(d.tables, t)
	return t
}

// Named makes the table's key of a record prefix/name(id) instead of
// prefix/id, for IDs that are not a single store key component (the
// service framework's app IDs hold slashes).
func (t *Table) Named(name func(id string) string) *Table {
	t.name = name
	return t
}

// Key is the store key of record id.
func (t *Table) Key(id string) string {
	if t.name != nil {
		return t.prefix + "/" + t.name(id)
	}
	return t.prefix + "/" + id
}

// Mark has record id written at the next flush, and not deleted: a record
// removed and made again before the flush (an app deleted and created anew
// under its ID) must end written, though Flush deletes after it writes.
func (t *Table) Mark(id string) {
	t.dirty[id] = true
	t.d.undelete(t.Key(id))
}

// Remove has record id deleted at the next flush, and not written.
func (t *Table) Remove(id string) {
	delete(t.dirty, id)
	t.d.deletes = append(t.d.deletes, t.Key(id))
}

// Put has value written under key at the next flush (and not deleted, as
// Mark), for keys that are no table's records.
func (d *Durable) Put(key string, value []byte) {
	d.puts[key] = value
	d.undelete(key)
}

// undelete drops a pending delete of key.
func (d *Durable) undelete(key string) {
	d.deletes = slices.DeleteFunc(d.deletes, func(k string) bool { return k == key })
}

// Delete has key deleted at the next flush, and a value Put for it not
// written: the key ends deleted, as it would if both were written, since
// Flush deletes after it writes.
func (d *Durable) Delete(key string) {
	delete(d.puts, key)
	d.deletes = append(d.deletes, key)
}

// pending is what one flush writes, and what it gives back on failure.
type pending struct {
	dirty   []map[string]bool // by table
	puts    map[string][]byte
	deletes []string
}

// Flush writes every marked record and Put value, then deletes what was
// removed. When that fails everything stays pending for the next flush:
// nothing is lost, only delayed. Flushes do not overlap, so a later
// flush never lands before an earlier one.
func (d *Durable) Flush(ctx context.Context) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	ops, err := d.encodeLocked()
	p := d.takeLocked()
	d.mu.Unlock()

	if err == nil && len(ops) > 0 {
		err = d.write(ctx, ops)
	}
	if err != nil {
		d.mu.Lock()
		d.restoreLocked(p)
		d.mu.Unlock()
	}
	return err
}

// encodeLocked returns the writes and deletes pending, writes first.
func (d *Durable) encodeLocked() ([]store.Op, error) {
	var ops []store.Op
	for _, t := range d.tables {
		for id := range t.dirty {
			b, ok, err := t.encode(id)
			if err != nil {
				return nil, fmt.Errorf("%s: encoding %s: %w", d.opts.Name, t.Key(id), err)
			}
			if ok {
				ops = append(ops, store.Op{Key: t.Key(id), Value: b})
			}
		}
	}
	for k, v := range d.puts {
		ops = append(ops, store.Op{Key: k, Value: v})
	}
	for _, k := range d.deletes {
		ops = append(ops, store.Op{Key: k, Delete: true})
	}
	return ops, nil
}

// takeLocked empties what is pending and returns it.
func (d *Durable) takeLocked() pending {
	p := pending{puts: d.puts, deletes: d.deletes}
	for _, t := range d.tables {
		p.dirty = append(p.dirty, t.dirty)
		t.dirty = make(map[string]bool)
	}
	d.puts, d.deletes = make(map[string][]byte), nil
	return p
}

// restoreLocked puts back what a failed flush took. A value Put since
// then is newer and stays; deletes keep their order, the failed ones
// first, but for keys written since (made again after their removal).
func (d *Durable) restoreLocked(p pending) {
	written := make(map[string]bool)
	for i, t := range d.tables {
		for id := range t.dirty {
			written[t.Key(id)] = true
		}
		for id := range p.dirty[i] {
			t.dirty[id] = true
		}
	}
	for k := range d.puts {
		written[k] = true
	}
	for k, v := range p.puts {
		if _, ok := d.puts[k]; !ok {
			d.puts[k] = v
		}
	}
	failed := slices.DeleteFunc(p.deletes, func(k string) bool { return written[k] })
	d.deletes = append(failed, d.deletes...)
}

// FlushOrUndo flushes; when the write fails it logs why with msg, calls
// undo with the framework's lock held, so that nothing the lost write
// covered is acted on, and reports false.
func (d *Durable) FlushOrUndo(ctx context.Context, log *slog.Logger, msg string, undo func()) bool {
	err := d.Flush(ctx)
	if err == nil {
		return true
	}
	log.Error(msg, "err", err)
	d.mu.Lock()
	defer d.mu.Unlock()
	undo()
	return false
}
