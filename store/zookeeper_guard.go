package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
)

// A guarded write is a ZooKeeper multi: a version check of the guard's
// znode, then the write. The server applies both or neither, so a write
// cannot land after the guard moved, even from a client whose old session
// expired and was silently replaced by a new one (go-zookeeper does that),
// which is exactly the writer a fence must stop.

// PutGuarded implements Guarded.
func (z *ZooKeeper) PutGuarded(_ context.Context, g Guard, key string, value []byte, expected int64) (Entry, error) {
	gp, p, err := z.guardedPaths(g, key)
	if err != nil {
		return Entry{}, err
	}
	if value == nil {
		value = []byte{}
	}
	entry := func(version int64) Entry { return Entry{Key: key, Value: slices.Clone(value), Version: version} }
	for {
		switch {
		case expected == Absent:
			if err := z.createParents(p); err != nil {
				return Entry{}, err
			}
			_, err := z.guarded(g, gp, &zk.CreateRequest{Path: p, Data: value, Acl: z.acl})
			switch {
			case errors.Is(err, zk.ErrNodeExists):
				return Entry{}, fmt.Errorf("%w: %s already exists", ErrConflict, key)
			case err != nil:
				return Entry{}, fmt.Errorf("store: create %s: %w", key, err)
			}
			return entry(1), nil
		case expected == AnyVersion:
			res, err := z.guarded(g, gp, &zk.SetDataRequest{Path: p, Data: value, Version: -1})
			if errors.Is(err, zk.ErrNoNode) {
				e, err := z.PutGuarded(context.Background(), g, key, value, Absent)
				if !errors.Is(err, ErrConflict) {
					return e, err
				}
				continue // created by someone else meanwhile: overwrite it
			}
			if err != nil {
				return Entry{}, fmt.Errorf("store: set %s: %w", key, err)
			}
			return entry(int64(res.Stat.Version) + 1), nil
		default:
			res, err := z.guarded(g, gp, &zk.SetDataRequest{Path: p, Data: value, Version: int32(expected - 1)})
			if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
				return Entry{}, fmt.Errorf("%w: %s is not at version %d", ErrConflict, key, expected)
			}
			if err != nil {
				return Entry{}, fmt.Errorf("store: set %s: %w", key, err)
			}
			return entry(int64(res.Stat.Version) + 1), nil
		}
	}
}

// DeleteGuarded implements Guarded.
func (z *ZooKeeper) DeleteGuarded(_ context.Context, g Guard, key string, expected int64) error {
	gp, p, err := z.guardedPaths(g, key)
	if err != nil {
		return err
	}
	v := int32(-1)
	if expected != AnyVersion {
		v = int32(expected - 1)
	}
	_, err = z.guarded(g, gp, &zk.DeleteRequest{Path: p, Version: v})
	return deleteError(key, expected, err)
}

func (z *ZooKeeper) guardedPaths(g Guard, key string) (guard, p string, err error) {
	if err := g.validate(); err != nil {
		return "", "", err
	}
	if p, err = z.path(key); err != nil {
		return "", "", err
	}
	return z.root + "/" + g.Key, p, nil
}

// guarded runs op after a check of the guard's version (and, with Alive,
// of that znode's existence: version -1 checks only that), atomically. A
// failed check is ErrFenced; the op's own failure is returned as the
// server gave it, for the caller to translate.
func (z *ZooKeeper) guarded(g Guard, guardPath string, op any) (zk.MultiResponse, error) {
	ops := []any{&zk.CheckVersionRequest{Path: guardPath, Version: int32(g.Version - 1)}}
	checked := []string{g.Key}
	if g.Alive != "" {
		alive, err := z.path(g.Alive)
		if err != nil {
			return zk.MultiResponse{}, err
		}
		ops = append(ops, &zk.CheckVersionRequest{Path: alive, Version: -1})
		checked = append(checked, g.Alive)
	}
	ops = append(ops, op)
	n := len(ops)
	res, err := z.conn.Multi(ops...)
	if err == nil && len(res) == n {
		return res[n-1], nil
	}
	if len(res) == n {
		// The server reports, per op, which one failed; the checks come
		// first, so theirs are the fence's.
		for i, key := range checked {
			checkErr := res[i].Error
			switch {
			case checkErr == nil:
			case errors.Is(checkErr, zk.ErrBadVersion) || errors.Is(checkErr, zk.ErrNoNode):
				if key == g.Alive && i > 0 {
					return zk.MultiResponse{}, fmt.Errorf("%w: %s is gone", ErrFenced, key)
				}
				return zk.MultiResponse{}, fmt.Errorf("%w: %s is no longer at version %d", ErrFenced, g.Key, g.Version)
			default:
				return zk.MultiResponse{}, fmt.Errorf("checking the guard %s: %w", key, checkErr)
			}
		}
		if res[n-1].Error != nil {
			return zk.MultiResponse{}, res[n-1].Error
		}
	}
	if err == nil {
		err = fmt.Errorf("a guarded write got %d results, want %d", len(res), n)
	}
	return zk.MultiResponse{}, err
}
