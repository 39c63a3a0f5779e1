package core

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/store"
)

// startFenced starts a core on st, as a master does when it starts
// leading: it takes the fence and recovers the registry.
func startFenced(t *testing.T, id string, st store.Store) *Core {
	t.Helper()
	m, err := New(Config{Addr: "127.0.0.1:5050", ID: id, Store: st, Logger: slog.New(slog.DiscardHandler)}, Options{Post: (&testPost{}).post})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("master %s did not start: %v", id, err)
	}
	return m
}

// A leader whose fence a newer leader took cannot write the registry by
// any path, and stops at its first attempt; the newer one writes on.
func TestDeposedMasterStopsAtItsFirstFencedWrite(t *testing.T) {
	for name, open := range zktest.RegistryPairs() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			olderStore, newerStore := open(t)
			older := startFenced(t, "older", olderStore)
			web := roleKey(registryWeights, "web")
			if err := older.registryPut(web, []byte("1")); err != nil {
				t.Fatalf("the only leader writes: %v", err)
			}

			// A newer leader starts: it takes the fence.
			newer := startFenced(t, "newer", newerStore)

			applyErr := older.registryApply([]store.Op{{Key: web, Value: []byte("9")}})
			putErr := older.registryPut(web, []byte("9"))
			deleteErr := older.registryDelete(web)
			for what, err := range map[string]error{"batch": applyErr, "put": putErr, "delete": deleteErr} {
				if !errors.Is(err, store.ErrFenced) {
					t.Errorf("the deposed master's %s: %v, want ErrFenced", what, err)
				}
			}
			select {
			case <-older.Deposed():
				if err := older.DeposedErr(); !errors.Is(err, store.ErrFenced) {
					t.Fatalf("the deposed master's error is %v, want ErrFenced", err)
				}
			default:
				t.Fatal("the deposed master does not know it is deposed")
			}
			if e, err := newerStore.Get(ctx, web); err != nil || string(e.Value) != "1" {
				t.Fatalf("registry %s = %q, %v; want the value written before the newer leader came", web, e.Value, err)
			}

			if err := newer.registryPut(web, []byte("2")); err != nil {
				t.Fatalf("the newer leader writes: %v", err)
			}
			e, err := newerStore.Get(ctx, FenceKey)
			var holder fenceHolder
			if err != nil || json.Unmarshal(e.Value, &holder) != nil || holder.ID != "newer" || e.Version != 2 {
				t.Fatalf("fence %s = %s at version %d (%v), want the newer master's, taken second", FenceKey, e.Value, e.Version, err)
			}
		})
	}
}
