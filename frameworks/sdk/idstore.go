package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corral-sched/corral/store"
)

// StoreIDStore keeps the framework ID under Key in a store.Store, so that
// a framework running on several machines (its state in ZooKeeper) fails
// over to the same framework wherever it restarts.
type StoreIDStore struct {
	// Store is where the ID is kept: ZooKeeper for a framework that may
	// restart on another machine.
	Store store.Store
	Key   string // e.g. "frameworks/service/id"
	// Timeout bounds each store operation; zero means 10 s.
	Timeout time.Duration
}

func (s StoreIDStore) ctx() (context.Context, context.CancelFunc) {
	d := s.Timeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

// Load returns the stored ID, or "" when none is stored.
func (s StoreIDStore) Load() (string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	e, err := s.Store.Get(ctx, s.Key)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sdk: loading the framework ID from %s: %w", s.Key, err)
	}
	return string(e.Value), nil
}

// Save stores id; the write is durable when Save returns.
func (s StoreIDStore) Save(id string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.Store.Put(ctx, s.Key, []byte(id), store.AnyVersion); err != nil {
		return fmt.Errorf("sdk: saving the framework ID in %s: %w", s.Key, err)
	}
	return nil
}
