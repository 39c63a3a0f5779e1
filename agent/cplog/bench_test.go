package cplog

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// A task checkpoint is about 1 KB of JSON.
var benchValue = make([]byte, 1024)

// BenchmarkPut appends a checkpoint to the log.
func BenchmarkPut(b *testing.B) {
	l, _, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetBytes(int64(len(benchValue)))
	for i := 0; b.Loop(); i++ {
		if err := l.Put("fw/task-"+strconv.Itoa(i%1000), benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFileRename writes a checkpoint as a file of its own,
// replaced atomically: the pattern the log replaces.
func BenchmarkWriteFileRename(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "fw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchValue)))
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, "task-"+strconv.Itoa(i%1000)+".json")
		if err := os.WriteFile(path+".tmp", benchValue, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			b.Fatal(err)
		}
	}
}
