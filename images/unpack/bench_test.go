//go:build linux

package unpack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// BenchmarkLayer unpacks a gzipped 32 MB layer of 256 files; MB/s is the
// unpack rate the store sees (decompression, hashing, writing).
func BenchmarkLayer(b *testing.B) {
	body := bytes.Repeat([]byte("corral image layer benchmark data, somewhat compressible. "), 128<<10/58)
	var ms []member
	for i := range 256 {
		ms = append(ms, reg(fmt.Sprintf("d%d/f%d", i%16, i), string(body)))
	}
	raw := tarOf(b, ms...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	base := b.TempDir()
	b.SetBytes(int64(len(raw)))
	i := 0
	for b.Loop() {
		dir := filepath.Join(base, fmt.Sprint(i))
		os.Mkdir(dir, 0o755)
		if _, err := Layer(bytes.NewReader(gz.Bytes()), dir, Options{Owners: true}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
		i++
	}
}
