package cplog

import (
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// strictPrefix folds the records of data as the format describes them,
// stopping at the first that is not valid: what Open must return.
func strictPrefix(data []byte) map[string]string {
	out := map[string]string{}
	for len(data) >= 12 {
		n := binary.LittleEndian.Uint32(data)
		if crc32.Checksum(data[:8], castagnoli) != binary.LittleEndian.Uint32(data[8:]) || n < 2 || n > 64<<20 ||
			uint64(len(data)-12) < uint64(n) {
			break
		}
		body := data[12 : 12+n]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[4:]) {
			break
		}
		klen, kn := binary.Uvarint(body[1:])
		if kn <= 0 || klen == 0 || klen > 1<<16 || klen > uint64(len(body)-1-kn) {
			break
		}
		key, value := string(body[1+kn:1+kn+int(klen)]), string(body[1+kn+int(klen):])
		if body[0] == opPut {
			out[key] = value
		} else if body[0] == opDelete && value == "" {
			delete(out, key)
		} else {
			break
		}
		data = data[12+n:]
	}
	return out
}

func FuzzReplay(f *testing.F) {
	valid, ends := logOf("a=1", "b=2", "-a", "c=three")
	f.Add(valid)
	f.Add(valid[:ends[1]+5])
	f.Add(append(valid[:ends[0]:ends[0]], valid[ends[1]:]...))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		l, recs, err := Open(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		want := strictPrefix(data)
		got := map[string]string{}
		for k, v := range recs {
			got[k] = string(v)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("Open returned %q, the valid prefix holds %q", got, want)
		}
		if err := l.Put("fuzz", []byte("z")); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, recs, err = Open(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("reopening: %v", err)
		}
		defer l.Close()
		want["fuzz"] = "z"
		got = map[string]string{}
		for k, v := range recs {
			got[k] = string(v)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("after a write and a reopen: %q, want %q", got, want)
		}
	})
}
