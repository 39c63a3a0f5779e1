//go:build linux

package images

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-sched/corral/images/pull"
	"github.com/corral-sched/corral/images/store"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"
)

// assertNothingStored: a failed pull leaves no layer a launch could use
// and nothing in staging.
func assertNothingStored(t *testing.T, p *Provisioner) {
	t.Helper()
	for _, d := range []string{"layers/overlay", "layers/plain", "staging"} {
		entries, err := os.ReadDir(filepath.Join(p.opts.StoreDir, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("%s holds %d entries after a failed pull", d, len(entries))
		}
	}
	if l, i, c := p.Store().Counts(); l+i+c != 0 {
		t.Errorf("the store holds %d layers, %d images, %d references", l, i, c)
	}
}

// gzipMTime rewrites the mtime field of gzip responses: the blob still
// decompresses to the same tar, but its digest is no longer the one the
// manifest names.
type gzipMTime struct{ base http.RoundTripper }

func (g gzipMTime) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(r)
	if err != nil || !strings.Contains(r.URL.Path, "/blobs/") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > 8 && body[0] == 0x1f && body[1] == 0x8b {
		body[4] ^= 0xff
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func TestDigestMismatchRefused(t *testing.T) {
	requireRoot(t)
	_, ref := pushBusybox(t)
	p, reg := newProvisioner(t, Options{Transport: gzipMTime{http.DefaultTransport}})
	_, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{})
	if pull.KindOf(err) != pull.DigestMismatch || !strings.Contains(err.Error(), ref) {
		t.Fatalf("error %v, want a digest mismatch naming %s", err, ref)
	}
	if n := metricValue(t, reg, "corral_agent_image_pulls_total", "result", "digest_mismatch"); n != 1 {
		t.Errorf("digest_mismatch pulls %v", n)
	}
	assertNothingStored(t, p)
}

// TestDiffIDMismatchRefused: an archive whose config names other DiffIDs
// than its layers hold.
func TestDiffIDMismatchRefused(t *testing.T) {
	requireRoot(t)
	img := imagetest.Busybox(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	imagetest.SaveDocker(t, bad, dir, "bad:1")
	p, _ := newProvisioner(t, Options{Registry: dir})
	_, _, err = p.Provision(context.Background(), "c", "bad:1", ProvisionOptions{})
	if pull.KindOf(err) != pull.DigestMismatch {
		t.Fatalf("error %v, want a digest mismatch", err)
	}
	// The upper layer is whole and verified, and may stay for a retry;
	// the lower one, the image and any reference may not.
	if p.Store().HasLayer(cf.RootFS.DiffIDs[0].String()) {
		t.Error("the mismatched layer was stored under the DiffID it does not have")
	}
	if _, i, c := p.Store().Counts(); i+c != 0 {
		t.Errorf("the store holds %d images, %d references", i, c)
	}
	if entries, _ := os.ReadDir(filepath.Join(p.opts.StoreDir, "staging")); len(entries) != 0 {
		t.Errorf("staging holds %d entries", len(entries))
	}
	// Collection sweeps layers no image uses.
	if res, err := p.GC(store.GCPolicy{}); err != nil || res.Layers != 1 {
		t.Errorf("GC removed %d layers (%v), want the orphan", res.Layers, err)
	}
	assertNothingStored(t, p)
}

func TestRegistryWithAuth(t *testing.T) {
	requireRoot(t)
	reg, ref := pushBusybox(t, registrytest.WithAuth("corral", "s3cret"))
	p, _ := newProvisioner(t, Options{})
	if _, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{}); pull.KindOf(err) != pull.Unauthorized {
		t.Fatalf("without credentials: %v, want unauthorized", err)
	}
	wrong := strings.Replace(reg.DockerConfig(), "s3cret", "nope", 1)
	p, _ = newProvisioner(t, Options{DockerConfig: wrong})
	if _, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{}); pull.KindOf(err) != pull.Unauthorized {
		t.Fatalf("with a wrong password: %v, want unauthorized", err)
	}
	p, _ = newProvisioner(t, Options{DockerConfig: reg.DockerConfig()})
	root, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoot(t, root)
	if err := p.Destroy("c"); err != nil {
		t.Fatal(err)
	}
	// The config.json form Docker itself writes: a file, base64 auth, an
	// https:// key.
	file := filepath.Join(t.TempDir(), "config.json")
	cfg := `{"auths":{"https://` + reg.Addr + `/v1/":{"auth":"Y29ycmFsOnMzY3JldA=="}}}`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ = newProvisioner(t, Options{DockerConfig: file})
	if _, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy("c"); err != nil {
		t.Fatal(err)
	}
}

// TestLocalArchiveRegistry: Mesos' local registry mode, with a `docker
// save` archive and an OCI layout archive.
func TestLocalArchiveRegistry(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	img := imagetest.Busybox(t)
	imagetest.SaveDocker(t, img, dir, "busybox:latest")
	imagetest.SaveOCI(t, img, dir, "web:1")
	imagetest.SaveDocker(t, img, dir, "team/tools:2")
	p, _ := newProvisioner(t, Options{Registry: dir})
	for i, name := range []string{"busybox", "busybox:latest", "web:1", "team/tools:2"} {
		id := string(rune('a' + i))
		root, cfg, err := p.Provision(context.Background(), id, name, ProvisionOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkRoot(t, root)
		if cfg.Runtime.WorkingDir != imagetest.Config.WorkingDir {
			t.Errorf("%s: working dir %q", name, cfg.Runtime.WorkingDir)
		}
		if err := p.Destroy(id); err != nil {
			t.Fatal(err)
		}
	}
	if l, _, _ := p.Store().Counts(); l != 2 {
		t.Errorf("%d layers stored for one image saved three ways, want 2", l)
	}
	for name, kind := range map[string]pull.Kind{"missing:1": pull.NotFound, "../busybox:latest": pull.BadName} {
		if _, _, err := p.Provision(context.Background(), "x", name, ProvisionOptions{}); pull.KindOf(err) != kind {
			t.Errorf("%s: %v, want %s", name, err, kind)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk:1.tar"), []byte("not a tar at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Provision(context.Background(), "x", "junk:1", ProvisionOptions{}); pull.KindOf(err) != pull.Invalid {
		t.Errorf("junk archive: %v, want invalid", err)
	}
}

// TestRegistryGarbageAndHang: a server that answers nonsense is refused
// as such; one that never answers is bounded by the pull timeout.
func TestRegistryGarbageAndHang(t *testing.T) {
	requireRoot(t)
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Write([]byte("{this is not json"))
	}))
	defer garbage.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return // the ping answers; the manifest never does
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	p, reg := newProvisioner(t, Options{PullTimeout: 500 * time.Millisecond})
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	image := host(garbage) + "/web:1"
	_, _, err := p.Provision(context.Background(), "c", image, ProvisionOptions{})
	if pull.KindOf(err) != pull.Invalid || !strings.Contains(err.Error(), image) {
		t.Errorf("garbage: %v, want an invalid-image error naming %s", err, image)
	}
	image = host(hang) + "/web:1"
	_, _, err = p.Provision(context.Background(), "c", image, ProvisionOptions{})
	if pull.KindOf(err) != pull.Timeout || !strings.Contains(err.Error(), "timed out after 500ms") || !strings.Contains(err.Error(), image) {
		t.Errorf("hang: %v, want a timeout naming %s and the limit", err, image)
	}
	if n := metricValue(t, reg, "corral_agent_image_pulls_total", "result", "timeout"); n != 1 {
		t.Errorf("timeout pulls %v", n)
	}
	// A caller's own deadline ends its wait, not a shared pull.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := p.Provision(ctx, "d", image, ProvisionOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	assertNothingStored(t, p)
}

// TestInsecureRegistries: a registry named by a non-loopback host is
// spoken to over TLS unless listed as insecure.
func TestInsecureRegistries(t *testing.T) {
	requireRoot(t)
	reg, _ := pushBusybox(t)
	_, port, _ := net.SplitHostPort(reg.Addr)
	host := "corral-registry.test:" + port
	// Every connection goes to the test registry on loopback, whatever
	// the name.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, reg.Addr)
	}
	p, _ := newProvisioner(t, Options{Transport: tr, PullTimeout: 10 * time.Second})
	if _, _, err := p.Provision(context.Background(), "c", host+"/busybox:1", ProvisionOptions{}); pull.KindOf(err) != pull.Unavailable {
		t.Fatalf("TLS to a plain-HTTP registry: %v, want unavailable", err)
	}
	p, _ = newProvisioner(t, Options{Transport: tr, InsecureRegistries: []string{host}})
	root, _, err := p.Provision(context.Background(), "c", host+"/busybox:1", ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoot(t, root)
	if err := p.Destroy("c"); err != nil {
		t.Fatal(err)
	}
	// The default registry, as an http:// URL, applies to names without
	// a host.
	p, _ = newProvisioner(t, Options{Transport: tr, Registry: "http://" + host})
	if _, _, err := p.Provision(context.Background(), "c", "busybox:1", ProvisionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy("c"); err != nil {
		t.Fatal(err)
	}
}

// TestOverlayFallsBackToCopy: overlayfs cannot use another overlay as its
// upper filesystem, so a store on one gets the copy backend and a reason.
func TestOverlayFallsBackToCopy(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + filepath.Join(base, "l") + ",upperdir=" + filepath.Join(base, "u") + ",workdir=" + filepath.Join(base, "w")
	if err := unix.Mount("overlay", filepath.Join(base, "m"), "overlay", 0, opts); err != nil {
		t.Fatalf("mounting the outer overlay: %v", err)
	}
	defer unix.Unmount(filepath.Join(base, "m"), unix.MNT_DETACH)
	_, ref := pushBusybox(t)
	p, _ := newProvisioner(t, Options{StoreDir: filepath.Join(base, "m", "store")})
	name, why := p.Backend()
	if name != "copy" || !strings.Contains(why, "overlayfs cannot be mounted") {
		t.Fatalf("backend %s (%q), want copy with a reason", name, why)
	}
	root, _, err := p.Provision(context.Background(), "c", ref, ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoot(t, root)
	if err := p.Destroy("c"); err != nil {
		t.Fatal(err)
	}
}
