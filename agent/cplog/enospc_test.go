package cplog

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDisk writes part of what it is given, then fails as a full disk
// does, while full is set.
type fullDisk struct {
	appendFile
	full         *bool
	truncateFail *bool
}

func (f fullDisk) Write(b []byte) (int, error) {
	if *f.full {
		n, _ := f.appendFile.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	}
	return f.appendFile.Write(b)
}

func (f fullDisk) Truncate(n int64) error {
	if *f.truncateFail {
		return syscall.EIO
	}
	return f.appendFile.Truncate(n)
}

func TestAFailedWriteLeavesNoHalfRecord(t *testing.T) {
	for _, truncateFails := range []bool{false, true} {
		t.Run("truncate fails "+map[bool]string{false: "no", true: "yes"}[truncateFails], func(t *testing.T) {
			dir := t.TempDir()
			full, tfail := false, false
			l, _, err := open(dir, slog.New(slog.DiscardHandler), hooks{wrap: func(f appendFile) appendFile {
				return fullDisk{appendFile: f, full: &full, truncateFail: &tfail}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			put(t, l, "a", "1")
			full, tfail = true, truncateFails
			err = l.Put("b", []byte(strings.Repeat("2", 100)))
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), `"b"`) {
				t.Fatalf("Put on a full disk: %v, want ENOSPC naming the key", err)
			}
			if err := l.Delete("a"); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Delete on a full disk: %v", err)
			}
			full, tfail = false, false
			put(t, l, "c", "3")
			l.Close()
			_, recs, h := mustOpen(t, dir)
			wantRecords(t, recs, map[string]string{"a": "1", "c": "3"})
			if h.count(slog.LevelWarn)+h.count(slog.LevelError) != 0 {
				t.Fatalf("the log holds damage after a failed write: %v", h.lines)
			}
		})
	}
}

// The same on a real file system that fills up: a 64 KiB tmpfs.
func TestTmpfsFillsUp(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a tmpfs: it needs root")
		}
		t.Skip("this test mounts a tmpfs: it needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmounting the tmpfs: %v: %s", err, out)
		}
	})
	l, _, err := Open(filepath.Join(dir, "cp"), nil)
	if err != nil {
		t.Fatal(err)
	}
	value := []byte(strings.Repeat("x", 1000))
	want := map[string]string{}
	var failed error
	for i := 0; failed == nil && i < 1000; i++ {
		k := "fw/t" + string(rune('A'+i%26)) + string(rune('A'+i/26))
		if failed = l.Put(k, value); failed == nil {
			want[k] = string(value)
		}
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("filling 64 KiB with 1000 records of 1 KB: %v, want ENOSPC", failed)
	}
	l.Close()
	l2, recs, h := mustOpen(t, filepath.Join(dir, "cp"))
	wantRecords(t, recs, want)
	if h.count(slog.LevelWarn)+h.count(slog.LevelError) != 0 {
		t.Fatalf("the log holds damage after the disk filled: %v", h.lines)
	}
	for k := range want {
		if err := l2.Delete(k); err != nil {
			break // tombstones need room too; those that fit count
		}
		delete(want, k)
	}
	l2.Close()
	_, recs, _ = mustOpen(t, filepath.Join(dir, "cp"))
	wantRecords(t, recs, want)
}
