// Package store keeps small pieces of state durably: the master's registry
// and each framework's desired state. A Store maps slash-separated keys to
// values with versions, so that writers can compare-and-set, and it lets
// readers watch a key. Two implementations share the contract: Local, files
// under a directory (standalone mode), and ZooKeeper (HA mode).
//
// Every write is durable before it returns: a caller may report a change
// as done once Put has returned.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Versions with a special meaning in Put and Delete.
const (
	// AnyVersion writes or deletes whatever version is there.
	AnyVersion int64 = -1
	// Absent, as the expected version of Put, creates the key only if it
	// does not exist yet.
	Absent int64 = 0
)

// Errors a Store returns; test with errors.Is.
var (
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict means the expected version did not match: someone else
	// wrote first. Read again and retry.
	ErrConflict = errors.New("store: version conflict")
	ErrClosed   = errors.New("store: closed")
)

// Entry is a key's value at a version. Versions start at 1 and grow by
// one with every write; a key that does not exist has version 0.
type Entry struct {
	Key     string
	Value   []byte
	Version int64
}

// Store is a durable key-value store with versions.
type Store interface {
	// Get returns the key's entry or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Put writes value if the key's version is expected (AnyVersion: any,
	// Absent: not there yet) and returns the new entry; else ErrConflict.
	Put(ctx context.Context, key string, value []byte, expected int64) (Entry, error)
	// Delete removes the key if its version is expected (or AnyVersion);
	// ErrNotFound if it is not there, ErrConflict on a version mismatch.
	Delete(ctx context.Context, key string, expected int64) error
	// List returns the entries directly under prefix (one level), sorted
	// by key.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Watch sends the key's entry now and after every change (Version 0
	// once deleted) until ctx ends; the channel is then closed. Changes in
	// quick succession may be seen only as the latest.
	Watch(ctx context.Context, key string) (<-chan Entry, error)
	Close() error
}

// ValidateKey checks a key: slash-separated, no empty, "." or ".."
// components, no leading or trailing slash.
func ValidateKey(key string) error {
	if key == "" {
		return errors.New("store: empty key")
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("store: key %q has an empty, '.' or '..' component", key)
		}
		if strings.ContainsAny(part, "\x00") {
			return fmt.Errorf("store: key %q contains a NUL byte", key)
		}
	}
	return nil
}

// Op is one unconditional change of a batch: Value is written to Key, or
// Key is deleted (a missing key is no error) when Delete is set.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Batcher is a Store that makes many changes durable with one write.
type Batcher interface {
	Apply(ctx context.Context, ops []Op) error
}
