package filesystem

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corral-sched/corral/isolators"
)

func TestPosixLinksVolumesIntoTheSandbox(t *testing.T) {
	ctx := context.Background()
	sandbox, vol := t.TempDir(), t.TempDir()
	c := &isolators.Container{ID: "c1", Sandbox: sandbox, Volumes: []isolators.Volume{{Source: vol, Target: "data/db", Kind: isolators.PersistentVolume}}}
	var l isolators.Launch
	if err := (Posix{}).Prepare(ctx, c, &l); err != nil {
		t.Fatal(err)
	}
	if dest, err := os.Readlink(filepath.Join(sandbox, "data/db")); err != nil || dest != vol || l.Process.Cwd != sandbox || l.Rootfs != "" {
		t.Fatalf("link %q (%v), launch %+v", dest, err, l)
	}
	// Again, as after an agent restart: the existing link is fine.
	if err := (Posix{}).Prepare(ctx, c, &isolators.Launch{}); err != nil {
		t.Fatalf("preparing again: %v", err)
	}
	for _, c := range []struct {
		v    isolators.Volume
		want string
	}{
		{isolators.Volume{Source: vol, Target: "/abs"}, "needs the filesystem/linux isolator"},
		{isolators.Volume{Kind: isolators.HostPathVolume, Path: "/etc", Target: "etc"}, "needs the volume/host_path isolator"},
		{isolators.Volume{Kind: isolators.SandboxPathVolume, Path: "x", Target: "x"}, "needs the volume/sandbox_path isolator"},
	} {
		err := (Posix{}).Prepare(ctx, &isolators.Container{ID: "c2", Sandbox: t.TempDir(), Volumes: []isolators.Volume{c.v}}, &isolators.Launch{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.v, err, c.want)
		}
	}
}

func TestLinuxGivesARootOfItsOwn(t *testing.T) {
	ctx := context.Background()
	root, sandbox := t.TempDir(), t.TempDir()
	f := &Linux{Root: root}
	c := &isolators.Container{ID: "c1", Sandbox: sandbox, Volumes: []isolators.Volume{
		{Source: "/srv/vol", Target: "data", ReadOnly: true}, {Source: "/srv/abs", Target: "/opt/abs"}}}
	var l isolators.Launch
	if err := f.Prepare(ctx, c, &l); err != nil {
		t.Fatal(err)
	}
	if l.Rootfs != filepath.Join(root, "c1") || !l.Has(isolators.MountNamespace) || l.Process.Cwd != sandbox {
		t.Fatalf("launch %+v", l)
	}
	if dest, err := os.Readlink(filepath.Join(root, "c1", "bin")); err != nil || dest != "usr/bin" {
		t.Fatalf("/bin -> %q (%v)", dest, err)
	}
	// Every link the root has leads somewhere in the host's /usr.
	inRoot, err := os.ReadDir(filepath.Join(root, "c1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inRoot {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		dest, _ := os.Readlink(filepath.Join(root, "c1", e.Name()))
		if _, err := os.Stat(filepath.Join("/", dest)); err != nil {
			t.Errorf("/%s -> %s dangles on this host: %v", e.Name(), dest, err)
		}
	}
	has := func(src, dst string, ro bool) bool {
		return slices.ContainsFunc(l.Mounts, func(m isolators.Mount) bool {
			return m.Source == src && m.Destination == dst && m.Type == "bind" && slices.Contains(m.Options, "ro") == ro
		})
	}
	if !has("/usr", "/usr", true) || !has("/etc", "/etc", true) || !has(sandbox, sandbox, false) ||
		!has("/srv/vol", filepath.Join(sandbox, "data"), true) || !has("/srv/abs", "/opt/abs", false) {
		t.Fatalf("mounts %+v", l.Mounts)
	}
	if err := f.Prepare(ctx, &isolators.Container{ID: "../x", Sandbox: sandbox}, &isolators.Launch{}); err == nil {
		t.Fatal("a container ID naming a parent directory was accepted")
	}
	// Two roots: one alive after a restart, one not; Cleanup removes one.
	_ = f.Prepare(ctx, &isolators.Container{ID: "c2", Sandbox: sandbox}, &isolators.Launch{})
	_ = f.Prepare(ctx, &isolators.Container{ID: "c3", Sandbox: sandbox}, &isolators.Launch{})
	if err := f.Recover(ctx, []*isolators.Container{{ID: "c1"}, {ID: "c3"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Cleanup(ctx, &isolators.Container{ID: "c3"}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 || entries[0].Name() != "c1" {
		t.Fatalf("roots left: %v", entries)
	}
}
