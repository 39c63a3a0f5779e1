// Package golden runs scripted tests whose output is compared with golden
// files: the allocator's and the master core's scripts. `go test -update`
// rewrites the golden files from what the scripts print.
package golden

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the scripted tests")

// Scripts runs run on every file matching pattern (such as
// "testdata/*.script"), each as a subtest named after the file, and
// compares what it returns with the .golden file beside it.
func Scripts(t *testing.T, pattern string, run func(t *testing.T, path string) string) {
	t.Helper()
	scripts, err := filepath.Glob(pattern)
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	for _, path := range scripts {
		ext := filepath.Ext(path)
		t.Run(strings.TrimSuffix(filepath.Base(path), ext), func(t *testing.T) {
			got := run(t, path)
			file := strings.TrimSuffix(path, ext) + ".golden"
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("%s differs from %s:\n--- got\n%s--- want\n%s", path, file, got, want)
			}
		})
	}
}

// Script runs the script at path, a command per line, through step and
// returns what the golden file is to hold: blank lines and # comments as
// they are, each command as "> command", then what step printed for it.
// A command step refuses fails the test, with the output so far.
func Script(t *testing.T, path string, step func(args []string, out *strings.Builder) error) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			out.WriteString(sc.Text() + "\n")
			continue
		}
		out.WriteString("> " + text + "\n")
		if err := step(strings.Fields(text), &out); err != nil {
			t.Fatalf("%s:%d: %v; the script so far:\n%s", path, line, err, out.String())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return out.String()
}
