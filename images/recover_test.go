//go:build linux

package images

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// offline fails every request: what a provision does without it needed
// no registry.
type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline: no request should be made")
}

// TestRestartRecovers: a new provisioner over the same store (an agent
// restarted after kill -9) finds layers, names and references, keeps the
// roots of the containers still alive, removes the others' without
// leaking mounts, and re-mounts a root a reboot unmounted.
func TestRestartRecovers(t *testing.T) {
	requireRoot(t)
	_, ref := pushBusybox(t)
	dir := filepath.Join(t.TempDir(), "store")
	p1, _ := newProvisioner(t, Options{StoreDir: dir})
	roots := map[string]string{}
	for _, id := range []string{"alive", "gone"} {
		root, _, err := p1.Provision(context.Background(), id, ref, ProvisionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		roots[id] = root
	}
	if err := os.WriteFile(filepath.Join(roots["alive"], "tmp/state"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	// p1 is dropped without any cleanup, as kill -9 would leave it.
	p2, reg := newProvisioner(t, Options{StoreDir: dir, Transport: offline{}})
	if err := p2.Recover([]string{"alive"}); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(t, dir); len(m) != 1 || m[0] != roots["alive"] {
		t.Errorf("mounts after recovery %q, want only %s", m, roots["alive"])
	}
	if _, err := os.Stat(filepath.Dir(roots["gone"])); !os.IsNotExist(err) {
		t.Errorf("the gone container's root is still there: %v", err)
	}
	if _, ok := p2.Store().Container("gone"); ok {
		t.Error("the gone container's reference survived recovery")
	}
	// The name resolves from the store, with no request.
	root, cfg, err := p2.Provision(context.Background(), "new", ref, ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoot(t, root)
	if cfg.Runtime.WorkingDir == "" || metricValue(t, reg, "corral_agent_image_cache_hits_total", "kind", "image") != 1 {
		t.Errorf("cached provision after restart: cfg %+v", cfg.Runtime)
	}
	// Asking again for a container that has its root gives that root.
	if again, _, err := p2.Provision(context.Background(), "alive", ref, ProvisionOptions{}); err != nil || again != roots["alive"] {
		t.Errorf("re-provision of a recovered container: %s, %v", again, err)
	}
	// A reboot unmounts everything; recovery mounts the alive roots again
	// over the same upper directory.
	if err := unix.Unmount(roots["alive"], 0); err != nil {
		t.Fatal(err)
	}
	p3, _ := newProvisioner(t, Options{StoreDir: dir, Transport: offline{}})
	if err := p3.Recover([]string{"alive", "new"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(roots["alive"], "tmp/state")); err != nil || string(b) != "kept" {
		t.Errorf("the container's own file after re-mount: %q, %v", b, err)
	}
	checkRoot(t, roots["alive"])
	for _, id := range []string{"alive", "new"} {
		if err := p3.Destroy(id); err != nil {
			t.Fatal(err)
		}
	}
	if m := mountsUnder(t, dir); len(m) != 0 {
		t.Errorf("mounts left: %q", m)
	}
}
