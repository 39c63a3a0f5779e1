// Package golden runs scripted tests whose output is compared with golden
// files: the allocator's and the master core's scripts. `go test -update`
// rewrites the golden files from what the scripts print.
package golden

import (
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
