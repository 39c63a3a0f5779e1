//go:build linux

package images

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/images/rootfs"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// requireRoot: mounts, owners and overlay whiteouts need root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("image provisioning tests need root (mounts, device whiteouts, trusted xattrs)")
		}
		t.Skip("image provisioning tests need root")
	}
}

// countingTransport counts registry requests by method and path.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs map[string]int // "GET /v2/busybox/blobs/sha256:..."; guarded by mu
}

func newCounting() *countingTransport {
	return &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone(), reqs: map[string]int{}}
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

// count sums the requests whose key contains all of parts.
func (c *countingTransport) count(parts ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.reqs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(k, p)
		}
		if ok {
			n += v
		}
	}
	return n
}

func (c *countingTransport) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.reqs {
		out[k] = v
	}
	return out
}

// pushBusybox starts a registry holding the 2-layer busybox image as
// <registry>/busybox:1.
func pushBusybox(t *testing.T, opts ...registrytest.Option) (*registrytest.Registry, string) {
	t.Helper()
	reg := registrytest.Start(t, opts...)
	img := imagetest.Busybox(t)
	ref := reg.Addr + "/busybox:1"
	var ropts []remote.Option
	if reg.User != "" {
		ropts = append(ropts, remote.WithAuth(&authn.Basic{Username: reg.User, Password: reg.Password}))
	}
	imagetest.Push(t, img, ref, ropts...)
	return reg, ref
}

func newProvisioner(t *testing.T, o Options) (*Provisioner, *prometheus.Registry) {
	t.Helper()
	if o.StoreDir == "" {
		o.StoreDir = filepath.Join(t.TempDir(), "store")
	}
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupMounts(t, o.StoreDir) })
	return p, reg
}

// cleanupMounts unmounts whatever a failed test left under dir, so that
// TempDir's removal does not descend into a mounted overlay.
func cleanupMounts(t *testing.T, dir string) {
	points, err := rootfs.MountPoints()
	if err != nil {
		t.Error(err)
		return
	}
	var under []string
	for p := range points {
		if strings.HasPrefix(p, dir+"/") {
			under = append(under, p)
		}
	}
	slices.Sort(under)
	slices.Reverse(under)
	for _, p := range under {
		t.Errorf("%s is still mounted", p)
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	points, err := rootfs.MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p := range points {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				match = match && found
			}
			if match {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func isRoot() bool { return os.Geteuid() == 0 }
