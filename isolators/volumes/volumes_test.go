package volumes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-sched/corral/isolators"
)

func TestVolumesResolve(t *testing.T) {
	ctx := context.Background()
	sandbox, allowed, outside := t.TempDir(), t.TempDir(), t.TempDir()
	_ = os.MkdirAll(filepath.Join(allowed, "data"), 0o755)
	_ = os.Symlink(outside, filepath.Join(allowed, "escape")) // a link under an allowed dir to elsewhere
	c := &isolators.Container{ID: "c1", Sandbox: sandbox, Volumes: []isolators.Volume{
		{Kind: isolators.SandboxPathVolume, Path: "cache/x", Target: "cache"},
		{Kind: isolators.HostPathVolume, Path: filepath.Join(allowed, "data"), Target: "/data"},
		{Kind: isolators.PersistentVolume, Source: "/var/lib/vol", Target: "db"},
	}}
	if err := (SandboxPath{}).Prepare(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if err := (HostPath{Allowed: []string{allowed}}).Prepare(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if c.Volumes[0].Source != filepath.Join(sandbox, "cache/x") || c.Volumes[1].Source != filepath.Join(allowed, "data") || c.Volumes[2].Source != "/var/lib/vol" {
		t.Fatalf("volumes %+v", c.Volumes)
	}
	if info, err := os.Stat(filepath.Join(sandbox, "cache/x")); err != nil || !info.IsDir() {
		t.Fatalf("the SANDBOX_PATH directory was not made: %v", err)
	}
	for path, want := range map[string]string{
		filepath.Join(allowed, "escape"): "not under the agent's --allowed-host-paths",
		outside:                          "not under the agent's --allowed-host-paths",
		"relative":                       "must be absolute",
		filepath.Join(allowed, "nope"):   "no such file",
	} {
		c := &isolators.Container{Volumes: []isolators.Volume{{Kind: isolators.HostPathVolume, Path: path, Target: "/x"}}}
		if err := (HostPath{Allowed: []string{allowed}}).Prepare(ctx, c, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("HOST_PATH %s: %v, want %q", path, err, want)
		}
	}
	bad := &isolators.Container{Sandbox: sandbox, Volumes: []isolators.Volume{{Kind: isolators.SandboxPathVolume, Path: "../up", Target: "x"}}}
	if err := (SandboxPath{}).Prepare(ctx, bad, nil); err == nil {
		t.Fatal("a SANDBOX_PATH climbing out of the sandbox was accepted")
	}
}
