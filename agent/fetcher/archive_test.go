//go:build linux

package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
)

// member is one entry of an archive a test builds.
type member struct {
	name string
	typ  byte   // tar type; for zips only TypeReg, TypeDir and TypeSymlink
	link string // link target
	body string
	mode int64
}

func regular(name, body string) member   { return member{name: name, typ: tar.TypeReg, body: body} }
func directory(name string) member       { return member{name: name, typ: tar.TypeDir} }
func symlinkTo(name, link string) member { return member{name: name, typ: tar.TypeSymlink, link: link} }

func tarOf(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		mode := m.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: mode, Size: int64(len(m.body))}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipOf(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		body := m.body
		switch m.typ {
		case tar.TypeDir:
			h.SetMode(fs.ModeDir | 0o755)
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			body = m.link
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// escapeLayout is a test's world: base/sandbox is fetched into, and
// base/outside, a sibling, is where hostile archives aim.
type escapeLayout struct {
	base, sandbox, outside, src string
}

func newLayout(t *testing.T) escapeLayout {
	t.Helper()
	base := t.TempDir()
	l := escapeLayout{base: base, sandbox: filepath.Join(base, "sandbox"), outside: filepath.Join(base, "outside"), src: filepath.Join(base, "src")}
	for _, d := range []string{l.sandbox, l.outside, l.src} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// fetch fetches an archive holding data, named name, through a file URI.
func (l escapeLayout) fetch(t *testing.T, f *Fetcher, name string, data []byte, user string) error {
	t.Helper()
	src := filepath.Join(l.src, name)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f.Fetch(context.Background(), []*mesospb.CommandInfo_URI{uri("file://"+src, nil)}, l.sandbox, user)
}

// outsideEmpty fails the test if anything appeared in base/outside.
func (l escapeLayout) outsideEmpty(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(l.outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s was written outside the sandbox", filepath.Join(l.outside, e.Name()))
	}
}

// climb is a relative link target from depth levels below the sandbox up
// past "/" and down to dir, an absolute path.
func climb(levels int, dir string) string {
	return strings.Repeat("../", levels) + strings.TrimPrefix(dir, "/")
}

// selfLinkEscape is the archive that fooled a check of links by their
// text: a/b -> . makes a/b/b/.../b the same directory as a, so a link
// there whose run of ".." stays inside on paper climbs out for real.
func selfLinkEscape(t testing.TB, levels int, outside string) []byte {
	deep := "a/" + strings.Repeat("b/", levels)
	return tarOf(t,
		directory("a/"),
		symlinkTo("a/b", "."),
		symlinkTo(deep+"l", climb(levels+1, outside)),
		regular(deep+"l/MARK", "escaped\n"),
	)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the fetch succeeded; want an error naming %q", parts)
	}
	t.Logf("refused: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not name %q", err, p)
		}
	}
}
