//go:build linux

package unpack

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// member is one tar entry for tests.
type member struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
	pax              map[string]string
}

func reg(name, body string) member {
	return member{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) member { return member{name: name, typ: tar.TypeDir, mode: 0o755} }
func sym(name, target string) member {
	return member{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hard(name, target string) member { return member{name: name, link: target, typ: tar.TypeLink} }

func tarOf(tb testing.TB, ms ...member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: m.mode, Linkname: m.link, Size: int64(len(m.body)),
			ModTime: time.Unix(1700000000, 0), Uid: m.uid, Gid: m.uid, PAXRecords: m.pax}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if m.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func unpackInto(t *testing.T, data []byte, f Format) (string, Result, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "layer")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Layer(bytes.NewReader(data), root, Options{Format: f, Owners: true})
	return root, res, err
}

func TestLayerOverlayFormat(t *testing.T) {
	data := tarOf(t,
		dir("etc/"),
		reg("etc/hostname", "image\n"),
		member{name: "bin/su", body: "#!", typ: tar.TypeReg, mode: 0o4755, uid: 0},
		member{name: "home/u/file", body: "u", typ: tar.TypeReg, mode: 0o600, uid: 1234},
		sym("bin/sh", "/bin/busybox"),
		sym("lib", "../../../usr/lib"),
		hard("etc/hostname2", "etc/hostname"),
		reg(".wh.gone", ""),
		dir("opaque/"),
		reg("opaque/.wh..wh..opq", ""),
		reg("opaque/kept", "k"),
		member{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		member{name: "fifo", typ: tar.TypeFifo, mode: 0o644},
		member{name: "cap", body: "c", typ: tar.TypeReg, mode: 0o755, pax: map[string]string{"SCHILY.xattr.user.note": "hi", "SCHILY.xattr.trusted.overlay.opaque": "y"}},
	)
	root, res, err := unpackInto(t, data, Overlay)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); res.DiffID != want {
		t.Errorf("DiffID %s, want %s", res.DiffID, want)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(got) != "image\n" {
		t.Errorf("etc/hostname = %q", got)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("absolute link stored as %q", l)
	}
	if l, _ := os.Readlink(filepath.Join(root, "lib")); l != "../../../usr/lib" {
		t.Errorf("relative link stored as %q", l)
	}
	var a, b unix.Stat_t
	_ = unix.Stat(filepath.Join(root, "etc/hostname"), &a)
	_ = unix.Stat(filepath.Join(root, "etc/hostname2"), &b)
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard link: inodes %d and %d, nlink %d", a.Ino, b.Ino, a.Nlink)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: %v, mode %o rdev %d", err, st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(root, ".wh.gone")); !os.IsNotExist(err) {
		t.Errorf("the marker file stayed: %v", err)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(root, "opaque"), OpaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q, %v", buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(root, "opaque", OpaqueMarker)); !os.IsNotExist(err) {
		t.Errorf("the opaque marker stayed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); !os.IsNotExist(err) {
		t.Errorf("a device node was created: %v", err)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "dev/null") {
		t.Errorf("skipped %q", res.Skipped)
	}
	if err := unix.Lstat(filepath.Join(root, "fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo: %v mode %o", err, st.Mode)
	}
	if err := unix.Lstat(filepath.Join(root, "bin/su"), &st); err != nil || st.Mode&0o7777 != 0o4755 {
		t.Errorf("setuid file: %v mode %o", err, st.Mode&0o7777)
	}
	if os.Geteuid() == 0 {
		if err := unix.Lstat(filepath.Join(root, "home/u/file"), &st); err != nil || st.Uid != 1234 {
			t.Errorf("owner: %v uid %d", err, st.Uid)
		}
	}
	n, err = unix.Lgetxattr(filepath.Join(root, "cap"), "user.note", buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Errorf("user xattr: %q %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "cap"), OpaqueXattr, buf); err == nil {
		t.Error("a trusted.* xattr was taken from the image")
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc")); !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Errorf("directory time %v", fi.ModTime())
	}
}

func TestLayerPlainFormatKeepsMarkers(t *testing.T) {
	root, _, err := unpackInto(t, tarOf(t, reg(".wh.gone", ""), dir("d/"), reg("d/.wh..wh..opq", ""), reg("d/new", "n")), Plain)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".wh.gone", "d/.wh..wh..opq", "d/new"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v %v", p, fi, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "gone")); !os.IsNotExist(err) {
		t.Errorf("plain format made a whiteout device: %v", err)
	}
}

func TestLayerCompressions(t *testing.T) {
	data := tarOf(t, reg("a", "hello"))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(data)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(data)
	zw.Close()
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	for name, in := range map[string][]byte{"plain": data, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		root, res, err := unpackInto(t, in, Overlay)
		if err != nil || res.DiffID != want {
			t.Errorf("%s: %v, DiffID %s want %s", name, err, res.DiffID, want)
			continue
		}
		if got, _ := os.ReadFile(filepath.Join(root, "a")); string(got) != "hello" {
			t.Errorf("%s: a = %q", name, got)
		}
	}
}

// TestLayerHostile: each layer tries to write or link outside the layer
// directory; each is refused and nothing appears next to it.
func TestLayerHostile(t *testing.T) {
	cases := map[string]struct {
		tar  []byte
		want string
	}{
		"dotdot":              {tarOf(t, reg("../escape", "x")), `".."`},
		"dotdot deep":         {tarOf(t, reg("a/../../escape", "x")), `".."`},
		"under absolute":      {tarOf(t, sym("abs", "/tmp"), reg("abs/escape", "x")), "symbolic link"},
		"under relative":      {tarOf(t, sym("up", ".."), reg("up/escape", "x")), "symbolic link"},
		"link chain":          {tarOf(t, dir("a/"), sym("a/b", "."), sym("a/l", "../.."), reg("a/b/l/escape", "x")), "symbolic link"},
		"hard link out":       {tarOf(t, hard("h", "../canary/file")), `".."`},
		"hard link absolute":  {tarOf(t, hard("h", "/etc/passwd")), "no such entry"},
		"hard link via link":  {tarOf(t, sym("l", "/etc"), hard("h", "l/passwd")), "symbolic link"},
		"whiteout under link": {tarOf(t, sym("l", "/tmp"), reg("l/.wh.x", "")), "symbolic link"},
		"opaque under link":   {tarOf(t, sym("l", "/tmp"), reg("l/.wh..wh..opq", "")), "symbolic link"},
		"root replaced":       {tarOf(t, sym("./", "/")), "root"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			layer := filepath.Join(base, "root", "layer")
			canary := filepath.Join(base, "root", "canary")
			os.MkdirAll(layer, 0o755)
			os.MkdirAll(canary, 0o755)
			os.WriteFile(filepath.Join(canary, "file"), []byte("canary"), 0o644)
			_, err := Layer(bytes.NewReader(c.tar), layer, Options{Owners: true})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			assertContained(t, base)
		})
	}
}

// assertContained fails if anything exists under base besides root/,
// root/layer/... and the untouched canary.
func assertContained(t testing.TB, base string) {
	t.Helper()
	err := filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		switch {
		case rel == "." || rel == "root" || rel == "root/canary":
		case rel == "root/layer" || strings.HasPrefix(rel, "root/layer/"):
			if info.Mode()&os.ModeCharDevice != 0 {
				var st unix.Stat_t
				if err := unix.Lstat(p, &st); err == nil && st.Rdev != 0 {
					t.Errorf("device node %s (%d) in the layer", rel, st.Rdev)
				}
			}
		case rel == "root/canary/file":
			if b, _ := os.ReadFile(p); string(b) != "canary" || !info.Mode().IsRegular() {
				t.Errorf("the canary changed: %q %v", b, info.Mode())
			}
		default:
			t.Errorf("%s was written outside the layer", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "root/canary/file")); err != nil {
		t.Errorf("the canary is gone: %v", err)
	}
}
