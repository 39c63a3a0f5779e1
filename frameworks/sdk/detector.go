package sdk

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
)

// Detector tells where the leading master is.
type Detector interface {
	Leader(ctx context.Context) (string, error) // host:port
}

type staticDetector string

func (d staticDetector) Leader(context.Context) (string, error) { return string(d), nil }

// StaticDetector always names master, given as host:port or an http URL.
// Redirects from a standby master still reach the leader.
func StaticDetector(master string) (Detector, error) {
	hostport := master
	if strings.Contains(master, "://") {
		u, err := url.Parse(master)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("sdk: bad master URL %q", master)
		}
		hostport = u.Host
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return nil, fmt.Errorf("sdk: master %q is not host:port: %w", master, err)
	}
	return staticDetector(hostport), nil
}

// FrameworkIDStore keeps the framework ID so that a restarted scheduler
// fails over to its tasks instead of registering as a new framework.
type FrameworkIDStore interface {
	Load() (string, error) // "" when none is stored
	Save(id string) error
}

// MemoryIDStore keeps the ID for the life of the process.
type MemoryIDStore struct {
	mu sync.Mutex
	id string // guarded by mu
}

// Load returns the stored ID.
func (m *MemoryIDStore) Load() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id, nil
}

// Save stores id.
func (m *MemoryIDStore) Save(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.id = id
	return nil
}

// FileIDStore keeps the ID in a file.
type FileIDStore struct {
	// Path is the file; its directory must exist.
	Path string
}

// Load reads the ID; a missing file means none.
func (f FileIDStore) Load() (string, error) {
	b, err := os.ReadFile(f.Path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sdk: reading framework ID: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Save writes the ID atomically.
func (f FileIDStore) Save(id string) error {
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return fmt.Errorf("sdk: writing framework ID: %w", err)
	}
	if err := os.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("sdk: writing framework ID: %w", err)
	}
	return nil
}
