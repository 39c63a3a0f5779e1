//go:build linux

package safetree

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestModes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.MkdirAll(filepath.Join(root, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Symlink("real", filepath.Join(root, "in"))
	os.Symlink("..", filepath.Join(root, "up"))
	os.Symlink("/", filepath.Join(root, "abs"))

	b, err := Open(root, Beneath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, err := b.Create("in/file", 0o644)
	if err != nil {
		t.Fatalf("Beneath follows a link that stays inside: %v", err)
	}
	f.Close()
	for _, p := range []string{"up/escape", "abs/tmp/escape", "../escape"} {
		if _, err := b.Create(p, 0o644); !errors.Is(err, ErrOutside) {
			t.Errorf("Beneath %s: %v, want ErrOutside", p, err)
		}
	}

	n, err := Open(root, NoLinks)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Create("in/other", 0o644); !errors.Is(err, ErrLink) {
		t.Errorf("NoLinks through a link: %v, want ErrLink", err)
	}
	if err := n.MkdirAll("real/a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "real/a/b")); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("something was created next to the tree: %v", entries)
	}
}

func TestCleanName(t *testing.T) {
	for raw, want := range map[string]string{
		"a/b": "a/b", "./a//b/": "a/b", "/a/./b": "a/b", "": ".", ".": ".", "/": ".", "a/../b": "", "..": "",
	} {
		got, ok := CleanName(raw)
		if ok != (want != "") || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}
