package agent

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent/containerizer"
)

func TestImageConfig(t *testing.T) {
	base := func() Config { return Config{Master: "m:1", Addr: "127.0.0.1:1", WorkDir: t.TempDir()} }
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"appc", func(c *Config) { c.ImageProviders = []string{"appc"} }, `image provider "appc"`},
		{"backend", func(c *Config) { c.ImageProviders, c.ImageProvisionerBackend = []string{"docker"}, "zfs" }, `backend "zfs": use overlay or copy`},
		{"negative timeout", func(c *Config) { c.ImageProviders, c.DockerPullTimeout = []string{"docker"}, -1 }, "must not be negative"},
	} {
		cfg := base()
		c.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// With images, linux isolation gains docker/runtime and a store under
	// the work dir; posix keeps its list (its tasks with images fail).
	cfg := base()
	cfg.ImageProviders, cfg.Isolation = []string{"docker"}, "posix"
	if err := cfg.setDefaults(); err != nil || cfg.isolation.Has("docker/runtime") ||
		cfg.DockerStoreDir != filepath.Join(cfg.WorkDir, "store", "docker") || cfg.ImageProvisionerBackend != "overlay" {
		t.Fatalf("posix with images: %v, %s, store %s", err, cfg.isolation, cfg.DockerStoreDir)
	}
	if containerizer.LinuxAvailable() != "" {
		return
	}
	cfg = base()
	cfg.ImageProviders, cfg.Isolation = []string{"docker"}, "linux"
	if err := cfg.setDefaults(); err != nil || !cfg.isolation.Has("docker/runtime") {
		t.Fatalf("linux with images: %v, %s", err, cfg.isolation)
	}
}

// Pull progress reaches the framework a few times a second at most: the
// first message at once, the newest of a burst once the interval is
// over, the rest dropped.
func TestProgressIsThrottledToTheLatest(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	l := &latest{interval: 500 * time.Millisecond, send: func(m string) { mu.Lock(); sent = append(sent, m); mu.Unlock() }}
	for i := range 5 {
		l.offer(fmt.Sprintf("m%d", i))
	}
	got := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(sent) }
	deadline := time.Now().Add(10 * time.Second)
	for len(got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling for the held-back message
	}
	if s := got(); !slices.Equal(s, []string{"m0", "m4"}) {
		t.Fatalf("sent %v, want the first and the newest", s)
	}
}
