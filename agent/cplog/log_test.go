package cplog

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripAndReplayAfterReopen(t *testing.T) {
	dir := t.TempDir()
	l, recs, _ := mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{})
	put(t, l, "F1/t1", `{"state":1}`)
	put(t, l, "F1/t2", `{"state":1}`)
	put(t, l, "F1/t1", `{"state":2}`)
	put(t, l, "F2/t1", "")
	if err := l.Delete("F1/t2"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete("never/there"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 2 {
		t.Fatalf("Len %d, want 2", l.Len())
	}
	l.Close()
	if err := l.Put("F1/t3", nil); err == nil {
		t.Fatal("Put after Close succeeded")
	}

	l2, recs, h := mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{"F1/t1": `{"state":2}`, "F2/t1": ""})
	if h.count(slog.LevelWarn)+h.count(slog.LevelError) != 0 {
		t.Fatalf("a clean log was reported damaged: %v", h.lines)
	}
	put(t, l2, "F1/t4", "x")
	l2.Close()
	_, recs, _ = mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{"F1/t1": `{"state":2}`, "F2/t1": "", "F1/t4": "x"})
}

func TestBadKeysAndValuesAreRefused(t *testing.T) {
	l, _, _ := mustOpen(t, t.TempDir())
	if err := l.Put("", []byte("x")); err == nil {
		t.Fatal("an empty key was accepted")
	}
	if err := l.Put(strings.Repeat("k", maxKey+1), nil); err == nil {
		t.Fatal("an oversized key was accepted")
	}
	if err := l.Put("k", make([]byte, maxBody)); err == nil {
		t.Fatal("an oversized value was accepted")
	}
}

// A crash mid-append can leave any prefix of the last record: each is
// dropped, and the log goes on from the records before it.
func TestTornLastRecordAtEveryByte(t *testing.T) {
	data, ends := logOf("a=1", "-a", "b="+strings.Repeat("v", 100), "c=3")
	prev := ends[len(ends)-2]
	for cut := prev; cut < len(data); cut++ {
		dir := t.TempDir()
		writeLog(t, dir, data[:cut])
		l, recs, h := mustOpen(t, dir)
		wantRecords(t, recs, map[string]string{"b": strings.Repeat("v", 100)})
		if cut > prev && h.count(slog.LevelWarn) != 1 {
			t.Fatalf("cut at %d: the dropped record was not logged", cut)
		}
		if h.count(slog.LevelError) != 0 || len(corruptFiles(t, dir)) != 0 {
			t.Fatalf("cut at %d: a torn tail was treated as damage", cut)
		}
		put(t, l, "d", "4")
		l.Close()
		_, recs, h = mustOpen(t, dir)
		wantRecords(t, recs, map[string]string{"b": strings.Repeat("v", 100), "d": "4"})
		if h.count(slog.LevelWarn)+h.count(slog.LevelError) != 0 {
			t.Fatalf("cut at %d: the repaired log is reported damaged again", cut)
		}
	}
}

func TestFlippedByteInTheLastRecordIsDropped(t *testing.T) {
	data, ends := logOf("a=1", "b=2", "c=three")
	prev := ends[len(ends)-2]
	for i := prev; i < len(data); i++ {
		dir := t.TempDir()
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		writeLog(t, dir, bad)
		l, recs, h := mustOpen(t, dir)
		wantRecords(t, recs, map[string]string{"a": "1", "b": "2"})
		if h.count(slog.LevelWarn) != 1 || len(corruptFiles(t, dir)) != 0 {
			t.Fatalf("byte %d: want one warning and nothing set aside, got %d warnings, %v", i, h.count(slog.LevelWarn), corruptFiles(t, dir))
		}
		put(t, l, "c", "3")
		l.Close()
		_, recs, _ = mustOpen(t, dir)
		wantRecords(t, recs, map[string]string{"a": "1", "b": "2", "c": "3"})
	}
}

// setLength gives the record at off a new body length, with a header
// checksum that matches it or not.
func setLength(data []byte, off int, n uint32, sealed bool) {
	binary.LittleEndian.PutUint32(data[off:], n)
	if sealed {
		binary.LittleEndian.PutUint32(data[off+8:], crc32.Checksum(data[off:off+8], castagnoli))
	}
}

func TestGarbageLengths(t *testing.T) {
	data, ends := logOf("a=1", "b=2", "c=3")
	for _, tc := range []struct {
		name    string
		at      int // record index
		length  uint32
		sealed  bool
		want    map[string]string
		corrupt bool
	}{
		{"huge, in the middle", 1, 0xFFFFFFF0, false, map[string]string{"a": "1"}, true},
		{"huge with a valid header, in the middle", 1, 0xFFFFFFF0, true, map[string]string{"a": "1"}, true},
		{"past the end with a valid header, in the middle", 1, 1 << 20, true, map[string]string{"a": "1"}, true},
		{"past the end with a valid header, at the end", 2, 1 << 20, true, map[string]string{"a": "1", "b": "2"}, false},
		{"zero with a valid header, in the middle", 1, 0, true, map[string]string{"a": "1"}, true},
		{"huge, at the end", 2, 0xFFFFFFF0, true, map[string]string{"a": "1", "b": "2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := bytes.Clone(data)
			off := 0
			if tc.at > 0 {
				off = ends[tc.at-1]
			}
			setLength(bad, off, tc.length, tc.sealed)
			writeLog(t, dir, bad)
			l, recs, _ := mustOpen(t, dir)
			wantRecords(t, recs, tc.want)
			if got := len(corruptFiles(t, dir)) == 1; got != tc.corrupt {
				t.Fatalf("set aside: %v, want %v", got, tc.corrupt)
			}
			put(t, l, "z", "26")
			l.Close()
			_, recs, _ = mustOpen(t, dir)
			tc.want["z"] = "26"
			wantRecords(t, recs, tc.want)
		})
	}
}

func TestCorruptMiddleRecordIsSetAside(t *testing.T) {
	dir := t.TempDir()
	data, ends := logOf("a=1", "b=2", "-a", "c=3", "d=4")
	bad := bytes.Clone(data)
	bad[ends[1]+headerSize+2] ^= 1 // in the body of "-a"
	writeLog(t, dir, bad)

	l, recs, h := mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{"a": "1", "b": "2"})
	if h.count(slog.LevelError) != 1 {
		t.Fatalf("the damage was not logged as an error: %v", h.lines)
	}
	aside := corruptFiles(t, dir)
	if len(aside) != 1 {
		t.Fatalf("set aside: %v, want one file", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, bad) {
		t.Fatal("the file set aside is not the damaged log")
	}
	put(t, l, "e", "5")
	l.Close()
	_, recs, h = mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{"a": "1", "b": "2", "e": "5"})
	if h.count(slog.LevelError)+h.count(slog.LevelWarn) != 0 || len(corruptFiles(t, dir)) != 1 {
		t.Fatal("the fresh log is reported damaged")
	}
}

func TestZeroFilledTailIsTorn(t *testing.T) {
	// A machine crash can keep a file's new size but not its pages.
	dir := t.TempDir()
	data, _ := logOf("a=1", "b=2")
	writeLog(t, dir, append(data, make([]byte, 4096)...))
	_, recs, h := mustOpen(t, dir)
	wantRecords(t, recs, map[string]string{"a": "1", "b": "2"})
	if h.count(slog.LevelError) != 0 || len(corruptFiles(t, dir)) != 0 {
		t.Fatal("a zero-filled tail was treated as damage in the middle")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "log")); fi.Size() != int64(len(data)) {
		t.Fatalf("log is %d bytes after the repair, want %d", fi.Size(), len(data))
	}
}

func TestCompactionKeepsTheLiveRecords(t *testing.T) {
	defer func(old int64) { compactMin = old }(compactMin)
	compactMin = 4 << 10
	dir := t.TempDir()
	l, _, _ := mustOpen(t, dir)
	value := strings.Repeat("v", 200)
	want := map[string]string{}
	for i := range 500 {
		k := string(rune('a' + i%7))
		put(t, l, k, value+k+string(rune('0'+i%10)))
		want[k] = value + k + string(rune('0'+i%10))
		if i%5 == 0 {
			if err := l.Delete("b"); err != nil {
				t.Fatal(err)
			}
			delete(want, "b")
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > compactMin+int64(len(value))+64 {
		t.Fatalf("log is %d bytes after 500 writes to 7 keys: never compacted", fi.Size())
	}
	l.Close()
	_, recs, _ := mustOpen(t, dir)
	wantRecords(t, recs, want)
}
