// Package imagetest builds small container images in Go for tests, from
// Debian's static busybox, and publishes them: pushed to a registry, or
// saved as the archives Mesos' local registry mode reads (`docker save`
// and OCI layouts in a tar).
package imagetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxPath is Debian's busybox-static binary.
const BusyboxPath = "/usr/bin/busybox"

// What the 2-layer busybox image holds, for tests to check.
const (
	Marker        = "etc/corral-image" // only the image has it
	MarkerContent = "corral test image\n"
	Deleted       = "etc/doomed" // in the lower layer, whited out by the upper
	Replaced      = "data"       // a directory the upper layer replaces (opaque)
)

var (
	// LowerData are Replaced's files in the lower layer, hidden by the upper.
	LowerData = []string{"a", "b"}
	// UpperData are Replaced's files once the upper layer is applied.
	UpperData = []string{"c"}
	// Applets get a link to busybox in /bin.
	Applets = []string{"sh", "cat", "echo", "ls", "id", "pwd", "env", "sleep", "true", "false", "test", "mount", "hostname"}
	// Config is the busybox image's runtime config.
	Config = v1.Config{
		Entrypoint: []string{"/bin/sh", "-c"},
		Cmd:        []string{"cat /" + Marker},
		Env:        []string{"PATH=/bin", "IMAGE_VAR=from-image"},
		WorkingDir: "/" + Replaced,
		User:       "root",
	}
)

// TB is the part of testing.TB the builders need.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
}

// File is one entry of a test layer.
type File struct {
	Name     string
	Body     []byte
	Mode     int64
	Typeflag byte // tar.TypeReg when zero
	Link     string
}

// Layer builds a gzip-compressed layer from files, in order.
func Layer(t TB, files ...File) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	stamp := time.Unix(1700000000, 0)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Typeflag, Mode: f.Mode, Linkname: f.Link, ModTime: stamp}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("imagetest: %v", err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			t.Fatalf("imagetest: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	data := buf.Bytes()
	// Compressed once and kept: go-containerregistry would otherwise
	// gzip the layer again for every digest, push and save.
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithCompressedCaching)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	return l
}

// Image stacks layers and sets cfg.
func Image(t TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(1700000000, 0)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	return img
}

// Busybox builds the 2-layer busybox image: the lower layer holds busybox
// and its applet links, the marker file, Deleted, and Replaced with
// LowerData; the upper one whites out Deleted and replaces Replaced
// (opaque) with UpperData. Without busybox-static the test fails under
// CI=true and is skipped elsewhere.
func Busybox(t TB) v1.Image {
	t.Helper()
	busybox.Lock()
	defer busybox.Unlock()
	if busybox.img == nil {
		busybox.img = buildBusybox(t)
	}
	return busybox.img
}

// busybox is the image built once per test binary.
var busybox struct {
	sync.Mutex
	img v1.Image // guarded by the mutex
}

func buildBusybox(t TB) v1.Image {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("image tests need busybox-static (apt-get install busybox-static): %v", err)
		}
		t.Skipf("busybox-static not installed: %v", err)
	}
	lower := []File{
		{Name: "bin/", Typeflag: tar.TypeDir},
		{Name: "bin/busybox", Body: bin, Mode: 0o755},
	}
	for _, a := range Applets {
		lower = append(lower, File{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Link: "busybox", Mode: 0o777})
	}
	lower = append(lower,
		File{Name: "etc/", Typeflag: tar.TypeDir},
		File{Name: Marker, Body: []byte(MarkerContent)},
		File{Name: Deleted, Body: []byte("deleted by the upper layer\n")},
		File{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")},
		File{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		File{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
		File{Name: Replaced + "/", Typeflag: tar.TypeDir},
	)
	for _, f := range LowerData {
		lower = append(lower, File{Name: Replaced + "/" + f, Body: []byte("lower " + f + "\n")})
	}
	upper := []File{
		{Name: "etc/", Typeflag: tar.TypeDir},
		{Name: filepath.Dir(Deleted) + "/.wh." + filepath.Base(Deleted)},
		{Name: Replaced + "/", Typeflag: tar.TypeDir},
		{Name: Replaced + "/.wh..wh..opq"},
	}
	for _, f := range UpperData {
		upper = append(upper, File{Name: Replaced + "/" + f, Body: []byte("upper " + f + "\n")})
	}
	return Image(t, Config, Layer(t, lower...), Layer(t, upper...))
}

// Push writes img to ref (e.g. "127.0.0.1:5000/busybox:1") with the given
// remote options (credentials, transport).
func Push(t TB, img v1.Image, ref string, opts ...remote.Option) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("imagetest: pushing %s: %v", ref, err)
	}
	return r
}

// SaveDocker writes img as `docker save` would, tagged tag (e.g.
// "busybox:latest"), to dir/<tag>.tar, the name Mesos' local registry
// looks for; it returns the file's path.
func SaveDocker(t TB, img v1.Image, dir, tag string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	path := filepath.Join(dir, tag+".tar")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	if err := tarball.WriteToFile(path, ref, img); err != nil {
		t.Fatalf("imagetest: saving %s: %v", tag, err)
	}
	return path
}

// SaveOCI writes img as an OCI image layout in a tar (an "oci-archive",
// as image copy tools write it), annotated with tag's tag as its ref
// name, to dir/<tag>.tar.
func SaveOCI(t TB, img v1.Image, dir, tag string) string {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	lay := t.TempDir()
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	path := filepath.Join(dir, tag+".tar")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	if err := tarDir(lay, path); err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	return path
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(tw, in)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return nil
}
