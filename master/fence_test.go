package master

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/zktest"
	"github.com/corral-sched/corral/store"
)

// runFenced runs a master on st until the test ends; its Run's result
// arrives on the channel.
func runFenced(t *testing.T, id string, st store.Store) (*Master, <-chan error) {
	t.Helper()
	m, err := New(Config{Addr: "127.0.0.1:5050", ID: id, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-m.stopped
	})
	deadline := time.Now().Add(30 * time.Second)
	for !m.recovered.Load() {
		select {
		case err := <-done:
			t.Fatalf("master %s stopped while starting: %v", id, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("master %s did not recover its registry", id)
		}
		time.Sleep(5 * time.Millisecond) // polling for readiness
	}
	return m, done
}

// A leader whose fence a newer leader took cannot write the registry by
// any path, and stops at its first attempt; the newer one writes on.
func TestDeposedMasterStopsAtItsFirstFencedWrite(t *testing.T) {
	backends := map[string]func(t *testing.T) (older, newer store.Store){
		// Standalone masters share one process's store.
		"local": func(t *testing.T) (store.Store, store.Store) {
			st, err := store.OpenLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st, st
		},
		// HA masters each have their own ZooKeeper session.
		"zookeeper": func(t *testing.T) (store.Store, store.Store) {
			server := zktest.Start(t)
			open := func() store.Store {
				st, err := store.DialZooKeeper([]string{server.Addr}, "/corral", "", 4*time.Second, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			return open(), open()
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			olderStore, newerStore := open(t)
			older, olderDone := runFenced(t, "older", olderStore)
			web := roleKey(registryWeights, "web")
			var err error
			if doErr := older.do(ctx, func(*state) { err = older.registryPut(web, []byte("1")) }); doErr != nil || err != nil {
				t.Fatalf("the only leader writes: %v, %v", doErr, err)
			}

			// A newer leader starts: it takes the fence.
			newer, _ := runFenced(t, "newer", newerStore)

			var applyErr, putErr, deleteErr error
			doErr := older.do(ctx, func(*state) {
				applyErr = older.registryApply([]store.Op{{Key: web, Value: []byte("9")}})
				putErr = older.registryPut(web, []byte("9"))
				deleteErr = older.registryDelete(web)
			})
			if doErr != nil {
				t.Fatal(doErr)
			}
			for what, err := range map[string]error{"batch": applyErr, "put": putErr, "delete": deleteErr} {
				if !errors.Is(err, store.ErrFenced) {
					t.Errorf("the deposed master's %s: %v, want ErrFenced", what, err)
				}
			}
			select {
			case err := <-olderDone:
				if !errors.Is(err, store.ErrFenced) {
					t.Fatalf("the deposed master's Run returned %v, want ErrFenced", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the deposed master still runs")
			}
			if err := older.do(ctx, func(*state) {}); !errors.Is(err, errStopped) {
				t.Fatalf("the deposed master still takes work: %v", err)
			}
			if e, err := newerStore.Get(ctx, web); err != nil || string(e.Value) != "1" {
				t.Fatalf("registry %s = %q, %v; want the value written before the newer leader came", web, e.Value, err)
			}

			if doErr := newer.do(ctx, func(*state) { err = newer.registryPut(web, []byte("2")) }); doErr != nil || err != nil {
				t.Fatalf("the newer leader writes: %v, %v", doErr, err)
			}
			e, err := newerStore.Get(ctx, FenceKey)
			var holder fenceHolder
			if err != nil || json.Unmarshal(e.Value, &holder) != nil || holder.ID != "newer" || e.Version != 2 {
				t.Fatalf("fence %s = %s at version %d (%v), want the newer master's, taken second", FenceKey, e.Value, e.Version, err)
			}
		})
	}
}
