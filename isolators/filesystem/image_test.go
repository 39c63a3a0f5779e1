package filesystem

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// fakeImages records what filesystem/linux asks of the provisioner.
type fakeImages struct {
	root      string
	err       error
	asked     []isolators.ImageRef
	destroyed []string
	alive     []string
}

func (f *fakeImages) Provision(_ context.Context, id string, ref isolators.ImageRef, report func(string)) (string, *isolators.Image, error) {
	f.asked = append(f.asked, ref)
	if f.err != nil {
		return "", nil, f.err
	}
	if report != nil {
		report("pulling " + ref.Name)
	}
	return filepath.Join(f.root, id), &isolators.Image{Name: ref.Name, Config: runtime.Image{Cmd: []string{"/app"}}}, nil
}

func (f *fakeImages) Destroy(id string) error      { f.destroyed = append(f.destroyed, id); return nil }
func (f *fakeImages) Recover(alive []string) error { f.alive = alive; return nil }

func imageInfo(name string) *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{
		Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(name)}, Cached: proto.Bool(false)}}}
}

// A container naming an image gets the provisioner's root instead of the
// host's /usr and /etc, its sandbox at /mnt/mesos/sandbox, volumes inside
// the image's root, and the shell bundle for the exit-status wrapper.
func TestLinuxRootFromAnImage(t *testing.T) {
	ctx := context.Background()
	images := &fakeImages{root: t.TempDir()}
	shell := &ShellBundle{Dir: "/agent/shell", Argv: []string{ShellMount + "/sh"}}
	f := &Linux{Root: t.TempDir(), Images: images, Shell: shell}
	sandbox := t.TempDir()
	var reports []string
	c := &isolators.Container{ID: "c1", Sandbox: sandbox, Info: imageInfo("web:1"), Report: func(m string) { reports = append(reports, m) },
		Volumes: []isolators.Volume{{Source: "/srv/vol", Target: "data", ReadOnly: true}, {Source: "/srv/abs", Target: "/var/lib/app"}}}
	var l isolators.Launch
	if err := f.Prepare(ctx, c, &l); err != nil {
		t.Fatal(err)
	}
	if len(images.asked) != 1 || images.asked[0] != (isolators.ImageRef{Name: "web:1", Fresh: true}) || len(reports) != 1 {
		t.Fatalf("provisioner asked %+v, reports %v", images.asked, reports)
	}
	if l.Rootfs != filepath.Join(images.root, "c1") || l.Image == nil || l.Image.Name != "web:1" || l.Sandbox != isolators.ContainerSandbox ||
		l.Process.Cwd != isolators.ContainerSandbox || !l.Has(isolators.MountNamespace) || !slices.Equal(l.Shell, shell.Argv) {
		t.Fatalf("launch %+v", l)
	}
	has := func(src, dst string, ro bool) bool {
		return slices.ContainsFunc(l.Mounts, func(m isolators.Mount) bool {
			return m.Source == src && m.Destination == dst && m.Type == "bind" && slices.Contains(m.Options, "ro") == ro
		})
	}
	if !has(sandbox, isolators.ContainerSandbox, false) || !has("/srv/vol", isolators.ContainerSandbox+"/data", true) ||
		!has("/srv/abs", "/var/lib/app", false) || !has(shell.Dir, ShellMount, true) || has("/usr", "/usr", true) {
		t.Fatalf("mounts %+v", l.Mounts)
	}
	if entries, _ := os.ReadDir(f.Root); len(entries) != 0 {
		t.Fatalf("an image's container got an empty root too: %v", entries)
	}
	// Cleanup and recovery reach the provisioner.
	if err := f.Cleanup(ctx, c); err != nil || !slices.Equal(images.destroyed, []string{"c1"}) {
		t.Fatalf("cleanup: %v, destroyed %v", err, images.destroyed)
	}
	if err := f.Recover(ctx, []*isolators.Container{{ID: "a"}, {ID: "b"}}); err != nil || !slices.Equal(images.alive, []string{"a", "b"}) {
		t.Fatalf("recover: %v, alive %v", err, images.alive)
	}
}

func TestLinuxImageRefusals(t *testing.T) {
	ctx := context.Background()
	sandbox := t.TempDir()
	for _, c := range []struct {
		name string
		f    *Linux
		c    *isolators.Container
		want string
	}{
		{"no provisioner", &Linux{Root: t.TempDir()}, &isolators.Container{ID: "c", Sandbox: sandbox, Info: imageInfo("web:1")},
			"provisions no images (start it with --image-providers docker)"},
		{"unresolved volume, before any pull", &Linux{Root: t.TempDir(), Images: &fakeImages{err: errors.New("must not be asked")}},
			&isolators.Container{ID: "c", Sandbox: sandbox, Info: imageInfo("web:1"),
				Volumes: []isolators.Volume{{Kind: isolators.HostPathVolume, Path: "/etc", Target: "etc"}}}, "needs the volume/host_path isolator"},
		{"pull failure", &Linux{Root: t.TempDir(), Images: &fakeImages{err: errors.New("image web:1: not found")}},
			&isolators.Container{ID: "c", Sandbox: sandbox, Info: imageInfo("web:1")}, "image web:1: not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.f.Prepare(ctx, c.c, &isolators.Launch{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Prepare: %v, want %q", err, c.want)
			}
		})
	}
}

// The bundle runs the host's shell through its own loader and libraries
// only, as it will in a root that has none of them.
func TestShellBundleRunsOnItsOwn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shell")
	if _, err := NewShellBundle(dir); err != nil {
		t.Fatal(err)
	}
	// Made again, as by a restarted agent: the old one is replaced.
	b, err := NewShellBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	argv := make([]string, len(b.Argv))
	for i, a := range b.Argv {
		argv[i] = strings.Replace(a, ShellMount, dir, 1)
	}
	out, err := exec.Command(argv[0], append(argv[1:], "-c", `echo "$0 $1"`, "wrapped", "ok")...).CombinedOutput()
	if err != nil || string(out) != "wrapped ok\n" {
		t.Fatalf("%v: %q, %v", argv, out, err)
	}
	if len(b.Argv) > 1 && !slices.Contains(b.Argv, "--library-path") {
		t.Fatalf("a dynamic shell must not use the root's libraries: %v", b.Argv)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("left beside the bundle: %v", entries)
	}
}
