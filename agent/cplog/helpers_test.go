package cplog

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logged records what a Log said, by level.
type logged struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (h *logged) Enabled(context.Context, slog.Level) bool { return true }
func (h *logged) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, r)
	return nil
}
func (h *logged) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logged) WithGroup(string) slog.Handler      { return h }

func (h *logged) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.lines {
		if r.Level == level {
			n++
		}
	}
	return n
}

func mustOpen(t *testing.T, dir string) (*Log, map[string][]byte, *logged) {
	t.Helper()
	h := &logged{}
	l, recs, err := Open(dir, slog.New(h))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, recs, h
}

func put(t *testing.T, l *Log, key, value string) {
	t.Helper()
	if err := l.Put(key, []byte(value)); err != nil {
		t.Fatalf("Put %q: %v", key, err)
	}
}

func wantRecords(t *testing.T, got map[string][]byte, want map[string]string) {
	t.Helper()
	g := make(map[string]string, len(got))
	for k, v := range got {
		g[k] = string(v)
	}
	if !maps.Equal(g, want) {
		t.Fatalf("records %v, want %v", g, want)
	}
}

// logOf frames records as a log file holds them: key=value puts, and
// deletes written as "-key".
func logOf(entries ...string) (data []byte, ends []int) {
	for _, e := range entries {
		if e[0] == '-' {
			data = append(data, encode(opDelete, e[1:], nil)...)
		} else {
			k, v, _ := strings.Cut(e, "=")
			data = append(data, encode(opPut, k, []byte(v))...)
		}
		ends = append(ends, len(data))
	}
	return data, ends
}

func writeLog(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func corruptFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.corrupt"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
