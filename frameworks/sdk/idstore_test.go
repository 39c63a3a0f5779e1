package sdk

import (
	"log/slog"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/store"
)

func TestStoreIDStore(t *testing.T) {
	zk := zktest.Start(t)
	open := map[string]func() store.Store{
		"local": func() store.Store {
			dir := t.TempDir()
			return mustStore(t)(store.OpenLocal(dir))
		},
		"zookeeper": func() store.Store {
			return mustStore(t)(store.DialZooKeeper([]string{zk.Addr}, "/sdk-test", "", 5*time.Second, slog.New(slog.DiscardHandler)))
		},
	}
	for name, newStore := range open {
		t.Run(name, func(t *testing.T) {
			st := newStore()
			ids := StoreIDStore{Store: st, Key: "frameworks/fleet/id"}
			if id, err := ids.Load(); err != nil || id != "" {
				t.Fatalf("empty store: %q, %v", id, err)
			}
			if err := ids.Save("fw-1"); err != nil {
				t.Fatal(err)
			}
			if err := ids.Save("fw-2"); err != nil {
				t.Fatal(err)
			}
			if id, err := ids.Load(); err != nil || id != "fw-2" {
				t.Fatalf("loaded %q, %v; want fw-2", id, err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := ids.Load(); err == nil {
				t.Fatal("loading from a closed store did not fail")
			}
		})
	}
}

func mustStore(t *testing.T) func(store.Store, error) store.Store {
	return func(s store.Store, err error) store.Store {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
