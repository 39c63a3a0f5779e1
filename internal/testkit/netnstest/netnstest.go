// Package netnstest gives a test a network namespace of its own, so that
// bridges, veths, routes and iptables rules a test makes never touch the
// host's network. The namespace is bind-mounted at /run/netns/<name> (so
// `ip -n <name> ...` can look inside while a test runs), its loopback is
// up, and it is removed when the test ends. Namespaces left by a test
// process that died are swept when the next one starts.
//
// Work runs inside a namespace on an OS thread of its own (Do): sockets
// opened and processes started there belong to that namespace.
package netnstest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-sched/corral/internal/netns"
)

// Prefix starts the name of every namespace this package makes; sweeping
// touches nothing else.
const Prefix = "corraltest-"

// Dir is where named network namespaces live (iproute2's convention).
const Dir = "/run/netns"

var seq atomic.Int64

// NS is a network namespace made for one test.
type NS struct {
	Name string // corraltest-<pid>-<n>
	Path string // its bind mount, usable by setns and `ip netns`
}

// Require stops the test, with a message naming what is missing, unless
// the process can make network namespaces (root). Under CI=true it fails
// instead of skipping: CI must run these tests.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "network namespace tests need root")
	}
}

// Unavailable skips the test, or fails it when CI=true.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run here: %s", why)
	}
	t.Skipf("cannot run here: %s", why)
}

// New makes a fresh network namespace with its loopback up, removed when
// the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	Require(t)
	Sweep()
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	name := fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), seq.Add(1))
	path := filepath.Join(Dir, name)
	if err := netns.Create(path); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Remove(path); err != nil {
			t.Errorf("netnstest: %v", err)
		}
	})
	return &NS{Name: name, Path: path}
}

// Do runs fn on an OS thread inside the namespace.
func (n *NS) Do(fn func() error) error { return netns.Do(n.Path, fn) }

// Links lists the namespace's network interfaces.
func (n *NS) Links() ([]net.Interface, error) {
	var out []net.Interface
	err := n.Do(func() error {
		var err error
		out, err = net.Interfaces()
		return err
	})
	return out, err
}

// Sweep removes namespaces left by test processes that are gone.
func Sweep() {
	entries, _ := os.ReadDir(Dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = netns.Remove(filepath.Join(Dir, e.Name()))
		}
	}
}
