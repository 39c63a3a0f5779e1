//go:build linux

package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/corral-sched/corral/images/pull"
	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
)

// checkRoot asserts what the 2-layer busybox image must look like once
// its layers are stacked.
func checkRoot(t *testing.T, root string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(root, imagetest.Marker)); err != nil || string(b) != imagetest.MarkerContent {
		t.Errorf("marker: %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(root, imagetest.Deleted)); !os.IsNotExist(err) {
		t.Errorf("%s should be whited out by the upper layer: %v", imagetest.Deleted, err)
	}
	entries, err := os.ReadDir(filepath.Join(root, imagetest.Replaced))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, imagetest.UpperData) {
		t.Errorf("%s holds %q, want only the upper layer's %q", imagetest.Replaced, names, imagetest.UpperData)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v %v", fi, err)
	}
}

func TestProvisionFromRegistry(t *testing.T) {
	requireRoot(t)
	for _, backend := range []string{"overlay", "copy"} {
		t.Run(backend, func(t *testing.T) {
			_, ref := pushBusybox(t)
			p, reg := newProvisioner(t, Options{Backend: backend})
			if name, why := p.Backend(); name != backend {
				t.Fatalf("backend %s (%s), want %s", name, why, backend)
			}
			var mu sync.Mutex
			var seen []Progress
			root, cfg, err := p.Provision(context.Background(), "c1", ref, ProvisionOptions{Progress: func(pr Progress) {
				mu.Lock()
				seen = append(seen, pr)
				mu.Unlock()
			}})
			if err != nil {
				t.Fatal(err)
			}
			checkRoot(t, root)
			want := runtime.Image{Entrypoint: imagetest.Config.Entrypoint, Cmd: imagetest.Config.Cmd, Env: imagetest.Config.Env,
				WorkingDir: imagetest.Config.WorkingDir, User: imagetest.Config.User}
			if !reflect.DeepEqual(cfg.Runtime, want) {
				t.Errorf("runtime config %+v, want %+v", cfg.Runtime, want)
			}
			mu.Lock()
			first, last := seen[0], seen[len(seen)-1]
			mu.Unlock()
			if s := first.String(); s != "pulling "+ref {
				t.Errorf("first progress line %q, want the lookup's", s)
			}
			if last.LayersDone != 2 || last.LayersTotal != 2 || last.BytesDone != last.BytesTotal || last.BytesTotal == 0 {
				t.Errorf("last progress %+v", last)
			}
			if s := last.String(); !strings.HasPrefix(s, "pulling "+ref+" (2 of 2 layers, ") {
				t.Errorf("progress line %q", s)
			}
			if n := metricValue(t, reg, "corral_agent_image_pulls_total", "result", "ok"); n != 1 {
				t.Errorf("pulls %v", n)
			}
			if n := metricValue(t, reg, "corral_agent_image_pull_bytes_total"); int64(n) != last.BytesTotal {
				t.Errorf("pulled bytes %v, want %d", n, last.BytesTotal)
			}
			if n := metricValue(t, reg, "corral_agent_image_store_bytes"); n <= 0 {
				t.Errorf("store bytes %v", n)
			}
			// A second container of the same image is a cache hit.
			root2, _, err := p.Provision(context.Background(), "c2", ref, ProvisionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n := metricValue(t, reg, "corral_agent_image_cache_hits_total", "kind", "image"); n != 1 {
				t.Errorf("cache hits %v", n)
			}
			// What one container writes, the other does not see.
			if err := os.WriteFile(filepath.Join(root, "tmp/mine"), []byte("c1"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root2, "tmp/mine")); !os.IsNotExist(err) {
				t.Errorf("c2 sees c1's file: %v", err)
			}
			for _, id := range []string{"c1", "c2"} {
				if err := p.Destroy(id); err != nil {
					t.Fatal(err)
				}
			}
			if m := mountsUnder(t, p.opts.StoreDir); len(m) != 0 {
				t.Errorf("mounts left after Destroy: %q", m)
			}
			if _, err := os.Stat(root); !os.IsNotExist(err) {
				t.Errorf("root filesystem left after Destroy: %v", err)
			}
			if cs := p.Store().Containers(); len(cs) != 0 {
				t.Errorf("references left: %v", cs)
			}
		})
	}
}

// TestConcurrentProvisionsPullOnce: 20 containers of one uncached image
// at once make one manifest lookup and one download per layer.
func TestConcurrentProvisionsPullOnce(t *testing.T) {
	requireRoot(t)
	_, ref := pushBusybox(t)
	ct := newCounting()
	p, reg := newProvisioner(t, Options{Transport: ct})
	var wg sync.WaitGroup
	errs := make([]error, 20)
	roots := make([]string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roots[i], _, errs[i] = p.Provision(context.Background(), fmt.Sprintf("c%d", i), ref, ProvisionOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("container %d: %v", i, err)
		}
		checkRoot(t, roots[i])
	}
	snap := ct.snapshot()
	for k, v := range snap {
		if strings.Contains(k, "/blobs/") && v != 1 {
			t.Errorf("%s requested %d times", k, v)
		}
	}
	if n := ct.count("GET", "/manifests/"); n != 1 {
		t.Errorf("manifest fetched %d times: %v", n, snap)
	}
	if n := ct.count("GET", "/blobs/"); n != 3 { // config and two layers
		t.Errorf("%d blob downloads, want 3: %v", n, snap)
	}
	if n := metricValue(t, reg, "corral_agent_image_pulls_total", "result", "ok"); n != 1 {
		t.Errorf("pulls %v", n)
	}
	for i := range 20 {
		if err := p.Destroy(fmt.Sprintf("c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFreshLooksUpAgain: a cached name needs no request; Fresh (Mesos'
// cached: false) asks for the manifest again but downloads no layer the
// store has.
func TestFreshLooksUpAgain(t *testing.T) {
	requireRoot(t)
	_, ref := pushBusybox(t)
	ct := newCounting()
	p, _ := newProvisioner(t, Options{Transport: ct})
	if _, _, err := p.Provision(context.Background(), "a", ref, ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	before := ct.count("")
	if _, _, err := p.Provision(context.Background(), "b", ref, ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := ct.count(""); after != before {
		t.Errorf("a cached provision made %d requests", after-before)
	}
	blobs, manifests := ct.count("/blobs/"), ct.count("GET", "/manifests/")
	if _, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{Fresh: true}); err != nil {
		t.Fatal(err)
	}
	if n := ct.count("GET", "/manifests/") - manifests; n != 1 {
		t.Errorf("a fresh provision fetched the manifest %d times", n)
	}
	if n := ct.count("/blobs/") - blobs; n > 1 { // the config, at most
		t.Errorf("a fresh provision of a stored image made %d blob requests", n)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := p.Destroy(id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnknownAndMalformedNames(t *testing.T) {
	requireRoot(t)
	reg, _ := pushBusybox(t)
	p, regm := newProvisioner(t, Options{})
	for _, c := range []struct {
		image string
		kind  pull.Kind
	}{
		{"", pull.BadName},
		{"Upper/Case:1", pull.BadName},
		{reg.Addr + "/busybox@sha256:123", pull.BadName},
		{reg.Addr + "/busybox:no-such-tag", pull.NotFound},
		{reg.Addr + "/nothere:1", pull.NotFound},
	} {
		_, _, err := p.Provision(context.Background(), "x", c.image, ProvisionOptions{})
		if pull.KindOf(err) != c.kind {
			t.Errorf("%q: %v, want a %s error", c.image, err, c.kind)
			continue
		}
		if c.image != "" && !strings.Contains(err.Error(), c.image) {
			t.Errorf("%q: the error does not name the image: %v", c.image, err)
		}
	}
	if n := metricValue(t, regm, "corral_agent_image_pulls_total", "result", "not_found"); n != 2 {
		t.Errorf("not_found pulls %v", n)
	}
	if cs := p.Store().Containers(); len(cs) != 0 {
		t.Errorf("failed provisions left references: %v", cs)
	}
	if ids, _ := p.backend.List(); len(ids) != 0 {
		t.Errorf("failed provisions left root filesystems: %v", ids)
	}

}
