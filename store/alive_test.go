package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/corral-sched/corral/store"
)

// aliveGuard checks Guard.Alive: a writer whose election key is gone (its
// session ended) writes nothing, though nobody took the fence after it;
// taking the fence can itself depend on the key.
func aliveGuard(t *testing.T, s store.Store) {
	ctx := context.Background()
	gs := s.(store.Guarded)
	if _, err := s.Put(ctx, "json.info_0000000001", []byte("m1"), store.Absent); err != nil {
		t.Fatal(err)
	}
	e, err := gs.PutGuarded(ctx, store.Guard{Key: "json.info_0000000001", Version: 1}, "registry/epoch", []byte("m1"), store.AnyVersion)
	if err != nil {
		t.Fatalf("taking the fence while alive: %v", err)
	}
	g := store.Guard{Key: "registry/epoch", Version: e.Version, Alive: "json.info_0000000001"}
	w := store.Fenced(gs, g)
	if _, err := w.Put(ctx, "registry/agents/a1", []byte("one"), store.Absent); err != nil {
		t.Fatalf("a write while alive: %v", err)
	}
	if err := s.Delete(ctx, "json.info_0000000001", store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Put(ctx, "registry/agents/a1", []byte("two"), store.AnyVersion); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a put after the election key went: %v, want ErrFenced", err)
	}
	if err := w.Delete(ctx, "registry/agents/a1", store.AnyVersion); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a delete after the election key went: %v, want ErrFenced", err)
	}
	if b, ok := w.(store.Batcher); ok {
		if err := b.Apply(ctx, []store.Op{{Key: "registry/agents/a2", Value: []byte("x")}}); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("a batch after the election key went: %v, want ErrFenced", err)
		}
	}
	if got, err := s.Get(ctx, "registry/agents/a1"); err != nil || string(got.Value) != "one" {
		t.Fatalf("registry/agents/a1 is %q (%v), want the write made while alive", got.Value, err)
	}
	if _, err := gs.PutGuarded(ctx, store.Guard{Key: "json.info_0000000001", Version: 1}, "registry/epoch", []byte("m1"), store.AnyVersion); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("taking the fence once the election key went: %v, want ErrFenced", err)
	}
}
