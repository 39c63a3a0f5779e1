//go:build linux

package fetcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to the extractor as a tar, a tar.gz
// (the bytes gzipped, so that the fuzzer mutates the tar inside) or a zip,
// extracting into <tmp>/root/target next to a canary directory. Whatever
// the archive, nothing may appear under <tmp> outside target, and the
// canary must be untouched.
func FuzzExtract(f *testing.F) {
	deep := "a/" + strings.Repeat("b/", 20)
	tars := [][]byte{
		tarOf(f, directory("a/"), symlinkTo("a/b", "."), symlinkTo(deep+"l", "../../canary"), regular(deep+"l/MARK", "x")),
		tarOf(f, directory("a/"), symlinkTo("a/b", "."), symlinkTo("a/b/b/l", "../../canary"), regular("a/b/b/l/MARK", "x")),
		tarOf(f, symlinkTo("d", "."), symlinkTo("d/up", ".."), regular("d/up/canary/MARK", "x")),
		tarOf(f, regular("../canary/MARK", "x"), regular("/MARK", "x")),
		tarOf(f, symlinkTo("l", "../canary/file"), regular("l", "x")),
		tarOf(f, symlinkTo("abs", "/tmp"), regular("abs/MARK", "x")),
		tarOf(f, member{name: "h", typ: tar.TypeLink, link: "../canary/file"}, member{name: "p", typ: tar.TypeFifo}),
		tarOf(f, directory("./"), regular("hello/world.txt", "hi\n"), member{name: "s", typ: tar.TypeReg, body: "x", mode: 0o7777}),
	}
	for _, t := range tars {
		f.Add(t, byte(0))
		f.Add(t, byte(1))
	}
	for _, z := range [][]byte{
		zipOf(f, regular("../canary/MARK", "x")),
		zipOf(f, directory("a/"), symlinkTo("a/b", "."), symlinkTo("a/b/b/l", "../../canary"), regular("a/b/b/l/MARK", "x")),
		zipOf(f, symlinkTo("l", "/tmp"), regular("ok", strings.Repeat("0", 4096))),
	} {
		f.Add(z, byte(2))
	}
	scratch := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, kind byte) {
		base, err := os.MkdirTemp(scratch, "x")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(base)
		target := filepath.Join(base, "root", "target")
		canary := filepath.Join(base, "root", "canary")
		for _, d := range []string{target, canary} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(canary, "file"), []byte("canary"), 0o644); err != nil {
			t.Fatal(err)
		}
		name := "a.tar"
		switch kind % 3 {
		case 1:
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(data)
			_ = zw.Close()
			name, data = "a.tar.gz", buf.Bytes()
		case 2:
			name = "a.zip"
		}
		if err := os.WriteFile(filepath.Join(target, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := openTree(target)
		if err != nil {
			t.Fatal(err)
		}
		_ = extract(tr, name, limits{bytes: 1 << 20, entries: 1000})
		tr.close()

		allowed := map[string]bool{base: true, filepath.Dir(target): true, canary: true, filepath.Join(canary, "file"): true}
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Errorf("walking %s: %v", p, err)
				return nil
			}
			if p == target {
				return fs.SkipDir
			}
			if !allowed[p] {
				t.Errorf("%s appeared outside the target directory", p)
			}
			return nil
		})
		info, err := os.Lstat(filepath.Join(canary, "file"))
		b, _ := os.ReadFile(filepath.Join(canary, "file"))
		if err != nil || !info.Mode().IsRegular() || string(b) != "canary" {
			t.Errorf("the canary is %v holding %q (%v)", info, b, err)
		}
	})
}
