package main

import (
	"strings"
	"testing"
)

// `corral agent --isolation` refuses at start what it cannot run,
// naming the entry, and the known isolators.
func TestAgentRefusesBadIsolationAtStart(t *testing.T) {
	for _, c := range []struct{ isolation, want string }{
		{"posix/cpu,gpu/nvidia", `unknown isolator "gpu/nvidia" (known: volume/sandbox_path`},
		{"cgroups/memory", `unknown isolator "cgroups/memory"`},
		{"cgroups/mem,namespaces/pid", "need filesystem/linux"},
		{"linux,posix/cpu", `"linux" is a shorthand`},
	} {
		root := newRootCommand()
		root.SetArgs([]string{"agent", "--isolation", c.isolation, "--listen", "127.0.0.1:0", "--work-dir", t.TempDir(), "--log-level", "error"})
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--isolation %s: %v, want an error naming %q", c.isolation, err, c.want)
		}
	}
}
