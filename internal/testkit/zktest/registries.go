package zktest

import (
	"log/slog"
	"time"

	"github.com/corral-sched/corral/store"
)

// RegistryPairs are the two ways masters share a registry, each opening
// the stores an older and a newer leader write through: standalone
// masters share one process's local store; HA masters each have their own
// ZooKeeper session on one server. Fencing tests run over both.
func RegistryPairs() map[string]func(t TB) (older, newer store.Store) {
	return map[string]func(t TB) (store.Store, store.Store){
		"local": func(t TB) (store.Store, store.Store) {
			st, err := store.OpenLocal(t.TempDir())
			if err != nil {
				t.Fatalf("zktest: %v", err)
			}
			t.Cleanup(func() { st.Close() })
			return st, st
		},
		"zookeeper": func(t TB) (store.Store, store.Store) {
			server := Start(t)
			open := func() store.Store {
				st, err := store.DialZooKeeper([]string{server.Addr}, "/corral", "", 4*time.Second, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatalf("zktest: %v", err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			return open(), open()
		},
	}
}
