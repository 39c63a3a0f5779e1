//go:build linux

package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corral-sched/corral/images/unpack"
)

// layerOf is a layer tar holding one file per name (content = name) and
// its DiffID.
func layerOf(t *testing.T, names ...string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		body := bytes.Repeat([]byte(n), 1024)
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes(), fmt.Sprintf("sha256:%x", sha256.Sum256(buf.Bytes()))
}

func opener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func openStore(t *testing.T, dir string, c *clock) *Store {
	t.Helper()
	s, err := Open(Options{Dir: dir, Format: unpack.Plain, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func imageID(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// addImage stores an image made of the given layers under name.
func addImage(t *testing.T, s *Store, n int, name string, layers ...[]byte) *Image {
	t.Helper()
	img := Image{ID: imageID(n), Config: []byte(`{}`)}
	for _, data := range layers {
		diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
		if _, err := s.AddLayer(context.Background(), diffID, opener(data)); err != nil {
			t.Fatal(err)
		}
		img.Layers = append(img.Layers, Layer{DiffID: diffID})
	}
	out, err := s.PutImage(img, name)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAddLayerIsAtomic(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, &clock{time.Unix(1000, 0)})
	data, diffID := layerOf(t, "a", "b", "c")
	broken := func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(data[:1500]), iotestErr{})), nil
	}
	if _, err := s.AddLayer(context.Background(), diffID, broken); err == nil {
		t.Fatal("a stream that breaks half-way was accepted")
	}
	if s.HasLayer(diffID) {
		t.Fatal("a half-unpacked layer is in the store")
	}
	for _, d := range []string{"staging", "layers/plain"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, d)); len(entries) != 0 {
			t.Errorf("%s holds %d entries after a failed unpack", d, len(entries))
		}
	}
	other, _ := layerOf(t, "x")
	if _, err := s.AddLayer(context.Background(), diffID, opener(other)); !errors.Is(err, ErrDiffID) {
		t.Errorf("content of another DiffID: %v", err)
	}
	unpacked, err := s.AddLayer(context.Background(), diffID, opener(data))
	if err != nil || !unpacked {
		t.Fatalf("unpacked %v, %v", unpacked, err)
	}
	ld, _ := s.LayerDir(diffID)
	if b, err := os.ReadFile(filepath.Join(ld, "b")); err != nil || len(b) != 1024 {
		t.Errorf("layer file: %d bytes, %v", len(b), err)
	}
	if unpacked, err := s.AddLayer(context.Background(), diffID, func() (io.ReadCloser, error) {
		t.Error("a stored layer was opened again")
		return nil, errors.New("no")
	}); err != nil || unpacked {
		t.Errorf("second add: %v %v", unpacked, err)
	}
	if _, err := s.LayerDir("sha256:../../etc"); err == nil {
		t.Error("a DiffID naming another path was accepted")
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestAddLayerUnpacksOnce(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{time.Unix(1000, 0)})
	data, diffID := layerOf(t, "a")
	var opens atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddLayer(context.Background(), diffID, func() (io.ReadCloser, error) {
				opens.Add(1)
				return opener(data)()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := opens.Load(); n != 1 {
		t.Errorf("the layer was opened %d times", n)
	}
}

func TestReopenFindsEverything(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Unix(1000, 0)}
	s := openStore(t, dir, c)
	l1, _ := layerOf(t, "one")
	img := addImage(t, s, 1, "reg/app:1", l1)
	if _, err := s.Ref("c1", img.ID); err != nil {
		t.Fatal(err)
	}
	orphan, orphanID := layerOf(t, "orphan")
	if _, err := s.AddLayer(context.Background(), orphanID, opener(orphan)); err != nil {
		t.Fatal(err)
	}
	// What a crash mid-unpack and mid-write leave behind.
	os.MkdirAll(filepath.Join(dir, "staging", "abc-123", "root"), 0o755)
	os.WriteFile(filepath.Join(dir, "containers", ".c9.json.tmp-1"), []byte("{"), 0o600)

	s2 := openStore(t, dir, c)
	got, ok := s2.Lookup("reg/app:1")
	if !ok || got.ID != img.ID || len(got.Layers) != 1 {
		t.Fatalf("lookup after reopen: %+v %v", got, ok)
	}
	if ct, ok := s2.Container("c1"); !ok || ct.Image != img.ID {
		t.Errorf("reference after reopen: %+v %v", ct, ok)
	}
	if !s2.HasLayer(img.Layers[0].DiffID) {
		t.Error("the image's layer is gone after reopen")
	}
	if s2.HasLayer(orphanID) {
		t.Error("a layer no image uses survived reopen")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "staging")); len(entries) != 0 {
		t.Errorf("staging not emptied: %d entries", len(entries))
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("store mode %v, want 0700", info.Mode().Perm())
	}
	// An image whose layer went missing is dropped, with its names.
	ld, _ := s2.LayerDir(img.Layers[0].DiffID)
	if _, err := s2.Ref("c2", img.ID); err != nil {
		t.Fatal(err)
	}
	s2.Unref("c1")
	s2.Unref("c2")
	os.RemoveAll(filepath.Dir(ld))
	s3 := openStore(t, dir, c)
	if _, ok := s3.Lookup("reg/app:1"); ok {
		t.Error("an image with a missing layer is still found")
	}
}

func TestRecoverDropsGoneContainers(t *testing.T) {
	s := openStore(t, t.TempDir(), &clock{time.Unix(1000, 0)})
	l1, _ := layerOf(t, "one")
	img := addImage(t, s, 1, "a:1", l1)
	for _, id := range []string{"c1", "c2", "c3"} {
		if _, err := s.Ref(id, img.ID); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := s.Recover([]string{"c2", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 2 || gone[0].ID != "c1" || gone[1].ID != "c3" {
		t.Errorf("gone %v", gone)
	}
	if cs := s.Containers(); len(cs) != 1 || cs[0].ID != "c2" {
		t.Errorf("left %v", cs)
	}
	if _, err := s.Ref("../x", img.ID); err == nil {
		t.Error("a container ID naming another path was accepted")
	}
}

func TestGCPolicy(t *testing.T) {
	t0 := time.Unix(100000, 0)
	c := &clock{t0}
	s := openStore(t, t.TempDir(), c)
	shared, _ := layerOf(t, "shared")
	la, _ := layerOf(t, "a")
	lb, _ := layerOf(t, "b")
	lc, _ := layerOf(t, "c")
	a := addImage(t, s, 1, "a:1", shared, la)
	c.now = t0.Add(time.Hour)
	b := addImage(t, s, 2, "b:1", shared, lb)
	inUse := addImage(t, s, 3, "c:1", lc)
	if _, err := s.Ref("running", inUse.ID); err != nil {
		t.Fatal(err)
	}
	c.now = t0.Add(2 * time.Hour)
	layers := func() int { n, _, _ := s.Counts(); return n }

	if res, _ := s.GC(GCPolicy{Budget: 1 << 40}); len(res.Images) != 0 {
		t.Fatalf("under budget, removed %v", res.Images)
	}
	// Over budget, but b was used within KeepRecent: only a goes, and
	// the layer it shares with b stays.
	res, err := s.GC(GCPolicy{Budget: 1, KeepRecent: 90 * time.Minute})
	if err != nil || len(res.Images) != 1 || res.Images[0] != a.ID || res.Layers != 1 || res.Freed <= 0 {
		t.Fatalf("keep-recent round: %+v, %v", res, err)
	}
	if _, ok := s.Lookup("a:1"); ok || layers() != 3 {
		t.Errorf("after removing a: lookup still works or %d layers", layers())
	}
	// A busy store is not collected.
	release := s.Busy()
	if res, _ := s.GC(GCPolicy{Budget: 1}); !res.SkippedBusy || len(res.Images) != 0 {
		t.Errorf("collected while a provision runs: %+v", res)
	}
	release()
	// Excluded images stay over budget.
	if res, _ := s.GC(GCPolicy{Budget: 1, Excluded: []string{"b:1"}}); len(res.Images) != 0 {
		t.Errorf("removed an excluded image: %v", res.Images)
	}
	// Under budget, age alone removes b; the image in use stays whatever
	// the policy.
	res, err = s.GC(GCPolicy{MaxUnused: 30 * time.Minute})
	if err != nil || len(res.Images) != 1 || res.Images[0] != b.ID {
		t.Fatalf("max-unused round: %+v, %v", res, err)
	}
	if res, _ := s.GC(GCPolicy{Budget: 1, MaxUnused: time.Nanosecond}); len(res.Images) != 0 || layers() != 1 {
		t.Errorf("the image in use was touched: %+v, %d layers", res, layers())
	}
	if err := s.Unref("running"); err != nil {
		t.Fatal(err)
	}
	c.now = c.now.Add(time.Minute)
	if res, _ := s.GC(GCPolicy{Budget: 1, KeepRecent: time.Hour}); len(res.Images) != 0 {
		t.Errorf("an image released a minute ago was removed despite KeepRecent: %v", res.Images)
	}
	if res, _ := s.GC(GCPolicy{Budget: 1}); len(res.Images) != 1 || res.Size != 0 || layers() != 0 {
		t.Errorf("last round: %+v, %d layers", res, layers())
	}
}
