//go:build linux

package unpack

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// FuzzLayer feeds arbitrary bytes to Layer as a tar (or, with kind's low
// bit set, the same bytes gzipped, so that the fuzzer mutates the tar
// inside), in each format (Apply over a directory that already holds a
// lower layer), next to a canary directory. Whatever the layer, nothing
// may appear outside the layer directory, the canary stays untouched, and
// the only device nodes in the layer are 0/0 whiteouts.
func FuzzLayer(f *testing.F) {
	deep := "a/" + strings.Repeat("b/", 10)
	seeds := [][]byte{
		tarOf(f, dir("a/"), sym("a/b", "."), sym(deep+"l", "../../canary"), reg(deep+"l/MARK", "x")),
		tarOf(f, sym("d", "."), sym("d/up", ".."), reg("d/up/canary/MARK", "x")),
		tarOf(f, reg("../canary/MARK", "x"), reg("/MARK", "x")),
		tarOf(f, sym("l", "../canary/file"), reg("l", "x"), hard("h", "l")),
		tarOf(f, sym("abs", "/"), reg("abs/canary/MARK", "x"), reg("abs/.wh.canary", "")),
		tarOf(f, hard("h", "../canary/file"), member{name: "p", typ: tar.TypeFifo}, member{name: "c", typ: tar.TypeChar}),
		tarOf(f, dir("x/"), reg("x/.wh..wh..opq", ""), reg(".wh.y", ""), reg("x/f", "f"), dir("x/f/"), reg("x", "over")),
	}
	for _, s := range seeds {
		for _, k := range []byte{0, 1, 2, 4, 5} {
			f.Add(s, k)
		}
	}
	scratch := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, kind byte) {
		base, err := os.MkdirTemp(scratch, "x")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		layer := filepath.Join(base, "root", "layer")
		canary := filepath.Join(base, "root", "canary")
		for _, d := range []string{layer, canary} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(canary, "file"), []byte("canary"), 0o644); err != nil {
			t.Fatal(err)
		}
		in := data
		if kind&1 == 1 {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(data)
			zw.Close()
			in = buf.Bytes()
		}
		format := Overlay
		switch {
		case kind&4 == 4:
			format = Apply
			lower := tarOf(t, dir("x/"), reg("x/old", "o"), sym("l", "/"), reg("y", "y"))
			if _, err := Layer(bytes.NewReader(lower), layer, Options{Format: Plain}); err != nil {
				t.Fatal(err)
			}
		case kind&2 == 2:
			format = Plain
		}
		_, _ = Layer(bytes.NewReader(in), layer, Options{Format: format, Owners: true, MaxBytes: 1 << 20, MaxEntries: 1000})
		assertContained(t, base)
	})
}
