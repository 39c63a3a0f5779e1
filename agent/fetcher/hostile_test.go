//go:build linux

package fetcher

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfLinkChainCannotEscape(t *testing.T) {
	l := newLayout(t)
	err := l.fetch(t, &Fetcher{}, "evil.tar", selfLinkEscape(t, 20, l.outside), "")
	l.outsideEmpty(t)
	wantErr(t, err, "evil.tar", "a/"+strings.Repeat("b/", 20)+"l", "outside")
}

func TestNamesLeavingTheSandboxAreRefused(t *testing.T) {
	for name, entry := range map[string]string{
		"dot-dot":          "../escape.txt",
		"inner dot-dot":    "a/../../outside/escape.txt",
		"absolute":         "/placeholder/escape.txt",
		"absolute dot-dot": "/../../escape.txt",
	} {
		t.Run(name, func(t *testing.T) {
			l := newLayout(t)
			if entry == "/placeholder/escape.txt" {
				entry = filepath.Join(l.outside, "escape.txt")
			}
			wantErr(t, l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t, regular(entry, "x")), ""), entry)
			l.outsideEmpty(t)
			if _, err := os.Stat(filepath.Join(l.base, "escape.txt")); err == nil {
				t.Fatal("escape.txt was written next to the sandbox")
			}
		})
	}
}

func TestAbsoluteLinksAreRefused(t *testing.T) {
	l := newLayout(t)
	err := l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t, symlinkTo("etc", l.outside), regular("etc/passwd", "root::0:0")), "")
	wantErr(t, err, `"etc"`, "relative links")
	l.outsideEmpty(t)
}

func TestFilesReplaceLinksInsteadOfWritingThroughThem(t *testing.T) {
	t.Run("inside", func(t *testing.T) {
		l := newLayout(t)
		err := l.fetch(t, &Fetcher{}, "a.tar", tarOf(t, regular("keep", "kept"), symlinkTo("f", "keep"), regular("f", "new")), "")
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(l.sandbox, "keep")); string(b) != "kept" {
			t.Fatalf("keep = %q: a file was written through the link f", b)
		}
		if info, err := os.Lstat(filepath.Join(l.sandbox, "f")); err != nil || !info.Mode().IsRegular() {
			t.Fatalf("f is %v (%v), want a regular file", info, err)
		}
	})
	t.Run("outside", func(t *testing.T) {
		l := newLayout(t)
		victim := filepath.Join(l.outside, "victim")
		if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		deep := "a/" + strings.Repeat("b/", 20)
		err := l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t,
			directory("a/"), symlinkTo("a/b", "."),
			symlinkTo(deep+"f", climb(21, victim)), regular(deep+"f", "overwritten")), "")
		wantErr(t, err, deep+"f")
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Fatalf("the file outside the sandbox now holds %q", b)
		}
	})
}

func TestEntriesUnderALinkedDirCannotEscape(t *testing.T) {
	// d -> . is harmless, but from d the text "d/up -> .." looks like the
	// sandbox itself while it is really the sandbox's parent.
	l := newLayout(t)
	err := l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t,
		symlinkTo("d", "."), symlinkTo("d/up", ".."), regular("d/up/outside/MARK", "escaped")), "")
	wantErr(t, err, "d/up", "outside")
	l.outsideEmpty(t)
}

func TestLinksPlantedInTheSandboxAreNotFollowed(t *testing.T) {
	for name, target := range map[string]func(l escapeLayout) string{
		"absolute": func(l escapeLayout) string { return l.outside },
		"relative": func(escapeLayout) string { return "../outside" },
	} {
		t.Run(name, func(t *testing.T) {
			l := newLayout(t)
			if err := os.Symlink(target(l), filepath.Join(l.sandbox, "x")); err != nil {
				t.Fatal(err)
			}
			wantErr(t, l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t, regular("x/passwd", "root::0:0")), ""), "x/passwd", "outside")
			l.outsideEmpty(t)
		})
	}
}

func TestHardLinksAreRefused(t *testing.T) {
	l := newLayout(t)
	victim := filepath.Join(l.outside, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t, member{name: "h", typ: tar.TypeLink, link: victim}), "")
	wantErr(t, err, `"h"`, "hard links")
	if _, err := os.Lstat(filepath.Join(l.sandbox, "h")); err == nil {
		t.Fatal("the hard link was made")
	}
}

func TestDevicesAndFIFOsAreRefused(t *testing.T) {
	for name, typ := range map[string]byte{"char": tar.TypeChar, "block": tar.TypeBlock, "fifo": tar.TypeFifo} {
		t.Run(name, func(t *testing.T) {
			l := newLayout(t)
			err := l.fetch(t, &Fetcher{}, "evil.tar", tarOf(t, member{name: "dev", typ: typ}), "")
			wantErr(t, err, `"dev"`, "not extracted")
			if _, err := os.Lstat(filepath.Join(l.sandbox, "dev")); err == nil {
				t.Fatal("the special file was made")
			}
		})
	}
}

func TestSetuidBitsAreDropped(t *testing.T) {
	l := newLayout(t)
	if err := l.fetch(t, &Fetcher{}, "a.tar", tarOf(t, member{name: "tool", typ: tar.TypeReg, body: "x", mode: 0o7755}), ""); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(l.sandbox, "tool"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 || info.Mode().Perm()&0o100 == 0 {
		t.Fatalf("tool has mode %v, want rwx without setuid, setgid or sticky", info.Mode())
	}
}

func TestHostileZips(t *testing.T) {
	t.Run("dot-dot", func(t *testing.T) {
		l := newLayout(t)
		wantErr(t, l.fetch(t, &Fetcher{}, "evil.zip", zipOf(t, regular("../outside/escape.txt", "x")), ""), "../outside/escape.txt")
		l.outsideEmpty(t)
	})
	t.Run("links are links", func(t *testing.T) {
		l := newLayout(t)
		if err := l.fetch(t, &Fetcher{}, "a.zip", zipOf(t, regular("data", "hi"), symlinkTo("ln", "data")), ""); err != nil {
			t.Fatal(err)
		}
		if target, err := os.Readlink(filepath.Join(l.sandbox, "ln")); err != nil || target != "data" {
			t.Fatalf("ln -> %q (%v), want a link to data", target, err)
		}
	})
	t.Run("absolute link", func(t *testing.T) {
		l := newLayout(t)
		wantErr(t, l.fetch(t, &Fetcher{}, "evil.zip", zipOf(t, symlinkTo("x", l.outside), regular("x/MARK", "x")), ""), `"x"`)
		l.outsideEmpty(t)
	})
	t.Run("self link chain", func(t *testing.T) {
		l := newLayout(t)
		deep := "a/" + strings.Repeat("b/", 20)
		err := l.fetch(t, &Fetcher{}, "evil.zip", zipOf(t, directory("a/"), symlinkTo("a/b", "."),
			symlinkTo(deep+"l", climb(21, l.outside)), regular(deep+"l/MARK", "x")), "")
		wantErr(t, err, deep+"l")
		l.outsideEmpty(t)
	})
}

func TestArchiveBombsStopAtTheBounds(t *testing.T) {
	zeros := strings.Repeat("\x00", 8<<20)
	t.Run("bytes", func(t *testing.T) {
		l := newLayout(t)
		bomb := zipOf(t, regular("a", zeros), regular("b", zeros))
		if len(bomb) > 1<<20 {
			t.Fatalf("the bomb is %d bytes, not a bomb", len(bomb))
		}
		wantErr(t, l.fetch(t, &Fetcher{MaxExtractBytes: 10 << 20}, "bomb.zip", bomb, ""), "bomb.zip", "more than 10485760 bytes")
		var total int64
		_ = filepath.Walk(l.sandbox, func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() && info.Name() != "bomb.zip" {
				total += info.Size()
			}
			return nil
		})
		if total > 10<<20 {
			t.Fatalf("%d bytes were extracted past a 10 MiB bound", total)
		}
	})
	t.Run("entries", func(t *testing.T) {
		l := newLayout(t)
		var members []member
		for i := range 11 {
			members = append(members, regular(strings.Repeat("f", i+1), ""))
		}
		wantErr(t, l.fetch(t, &Fetcher{MaxExtractEntries: 10}, "many.tar", tarOf(t, members...), ""), "more than 10 entries")
	})
}
