package cplog

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// abandon drops l as the death of the process would: its file is
// closed, nothing else is done.
func abandon(l *Log) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Close()
	l.closed = true
}

func crashAt(step string) func(string) bool { return func(s string) bool { return s == step } }

func TestCrashAtEachStepOfACompaction(t *testing.T) {
	for _, step := range []string{"created", "half-written", "written", "synced", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			l, _, err := open(dir, slog.New(slog.DiscardHandler), hooks{crash: crashAt(step)})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i := range 40 {
				k := "fw/t" + strconv.Itoa(i%10)
				put(t, l, k, "v"+strconv.Itoa(i))
				want[k] = "v" + strconv.Itoa(i)
			}
			for _, k := range []string{"fw/t3", "fw/t7"} {
				if err := l.Delete(k); err != nil {
					t.Fatal(err)
				}
				delete(want, k)
			}
			l.mu.Lock()
			err = l.rewriteLocked()
			l.mu.Unlock()
			if step != "renamed" && err == nil {
				t.Fatalf("the rewrite did not stop at %s", step)
			}
			abandon(l)

			l2, recs, h := mustOpen(t, dir)
			wantRecords(t, recs, want)
			if _, err := os.Stat(filepath.Join(dir, "log.tmp")); err == nil {
				t.Fatal("log.tmp is left after Open")
			}
			if h.count(slog.LevelError) != 0 {
				t.Fatalf("an interrupted compaction was reported as damage: %v", h.lines)
			}
			put(t, l2, "fw/t3", "back")
			want["fw/t3"] = "back"
			l2.Close()
			_, recs, _ = mustOpen(t, dir)
			wantRecords(t, recs, want)
		})
	}
}

func TestCrashAtEachStepOfSettingDamageAside(t *testing.T) {
	data, ends := logOf("a=1", "b=2", "c=3", "d=4")
	bad := bytes.Clone(data)
	bad[ends[1]+headerSize] ^= 0xFF // the op of "c=3"
	for _, step := range []string{"created", "half-written", "written", "synced", "set-aside", "renamed"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, bad)
			l, recs, err := open(dir, slog.New(slog.DiscardHandler), hooks{crash: crashAt(step)})
			if err != nil {
				t.Fatal(err)
			}
			wantRecords(t, recs, map[string]string{"a": "1", "b": "2"})
			abandon(l)

			l2, recs, _ := mustOpen(t, dir)
			wantRecords(t, recs, map[string]string{"a": "1", "b": "2"})
			if n := len(corruptFiles(t, dir)); n < 1 {
				t.Fatal("the damaged log was not set aside")
			}
			put(t, l2, "e", "5")
			l2.Close()
			_, recs, h := mustOpen(t, dir)
			wantRecords(t, recs, map[string]string{"a": "1", "b": "2", "e": "5"})
			if h.count(slog.LevelError) != 0 {
				t.Fatal("the log is still damaged after the repair")
			}
		})
	}
}
