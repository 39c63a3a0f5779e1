package containerizer

import (
	"testing"
	"time"

	"github.com/corral-sched/corral/isolators"
)

// newContainerizer makes a containerizer of isolation with its roots in
// the test's temporary dirs.
func newContainerizer(t testing.TB, isolation string, opts ...func(*Config)) *Containerizer {
	t.Helper()
	sel, err := isolators.Expand(isolation, isolators.Env{Linux: LinuxAvailable()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Isolation: sel, Root: t.TempDir(), SandboxRoot: t.TempDir(), Hostname: "agent-host",
		CgroupsRoot: "/corral-test", DiskInterval: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
