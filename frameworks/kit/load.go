package kit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/corral-sched/corral/store"
)

// Load calls each with every entry under prefix, in key order, and stops
// at the first error.
func Load(ctx context.Context, st store.Store, prefix string, each func(store.Entry) error) error {
	entries, err := st.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("loading %s: %w", prefix, err)
	}
	for _, e := range entries {
		if err := each(e); err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
	}
	return nil
}

// LoadJSON decodes every entry under prefix as a T and hands it to each.
func LoadJSON[T any](ctx context.Context, st store.Store, prefix string, each func(*T)) error {
	return Load(ctx, st, prefix, func(e store.Entry) error {
		v := new(T)
		if err := json.Unmarshal(e.Value, v); err != nil {
			return err
		}
		each(v)
		return nil
	})
}

// JSONIn returns a Table encoder for records kept in m by ID: their JSON,
// or false once a record is gone from m. m must be the framework's map
// itself, never replaced.
func JSONIn[V any](m map[string]*V) func(id string) ([]byte, bool, error) {
	return func(id string) ([]byte, bool, error) {
		v := m[id]
		if v == nil {
			return nil, false, nil
		}
		b, err := json.Marshal(v)
		return b, err == nil, err
	}
}
