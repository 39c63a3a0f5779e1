package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md")

// TestConfigurationDoc keeps docs/configuration.md equal to what the
// flags say.
func TestConfigurationDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	want := configurationDoc(newRootCommand())
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("docs/configuration.md is out of date with the flags: run `go test ./cmd/corral -run TestConfigurationDoc -update`")
	}
	for _, name := range []string{"master", "agent", "service", "batch", "dev"} {
		if !strings.Contains(want, "## corral "+name+"\n") {
			t.Errorf("the configuration doc lacks corral %s", name)
		}
	}
}

// TestExampleConfigFilesLoad reads every file in examples/config/ with its
// command: a key that is not a flag of that command is an error.
func TestExampleConfigFilesLoad(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "config", "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("found %d example config files", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		cmd, _, err := newRootCommand().Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("%s: no command %q", file, name)
		}
		if err := cmd.Flags().Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		s, err := loadSettings(cmd)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if s.String("log-format") == "" {
			t.Fatalf("%s: settings not read", file)
		}
	}
	// And a wrong key is refused, naming it.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listen: 1.2.3.4:5\nofer-timeout: 3s\n"), 0o644)
	cmd, _, _ := newRootCommand().Find([]string{"master"})
	cmd.Flags().Parse([]string{"--config", bad})
	if _, err := loadSettings(cmd); err == nil || !strings.Contains(err.Error(), `"ofer-timeout"`) {
		t.Fatalf("a misspelt key: %v", err)
	}
}
