package containerizer

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A container naming an image fails at once, naming what the agent
// lacks, where images cannot run: without filesystem/linux, or without an
// image provider. Nothing runs on the host's root instead.
func TestImagesNeedTheirIsolatorsAndProvider(t *testing.T) {
	info := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{
		Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String("127.0.0.1:5000/web:1")}}}}
	sandbox := t.TempDir()
	spec := Spec{ID: "c1", Sandbox: sandbox, Info: info, ExitFile: sandbox + "/exit"}
	for _, c := range []struct{ isolation, want string }{
		{"posix", "images need the filesystem/linux isolator, which this agent does not run"},
		{"filesystem/linux", "this agent provisions no images (start it with --image-providers docker)"},
	} {
		if c.isolation != "posix" && LinuxAvailable() != "" {
			continue // the selection itself needs linux
		}
		_, err := newContainerizer(t, c.isolation).Launch(context.Background(), spec)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "127.0.0.1:5000/web:1") {
			t.Errorf("%s: %v, want an error naming the image and %q", c.isolation, err, c.want)
		}
	}
	// Without an image, a command is still required.
	if _, err := newContainerizer(t, "posix").Launch(context.Background(), Spec{ID: "c2", Sandbox: sandbox}); err == nil ||
		!strings.Contains(err.Error(), "no command") {
		t.Errorf("no command, no image: %v", err)
	}
}

// The exit-status wrapper runs with the shell a root provides, and writes
// where the container sees its sandbox.
func TestWrapperInAnImage(t *testing.T) {
	l := &isolators.Launch{Sandbox: isolators.ContainerSandbox, Shell: []string{"/mnt/mesos/.corral/ld.so", "/mnt/mesos/.corral/sh"}}
	exit := inContainer(l, "/work/runs/c1", "/work/runs/c1/.corral_exit_status")
	got := wrap(l.Shell, exit, []string{"/bin/app", "-v"})
	want := []string{"/mnt/mesos/.corral/ld.so", "/mnt/mesos/.corral/sh", "-c", wrapper, "/mnt/mesos/sandbox/.corral_exit_status", "/bin/app", "-v"}
	if !slices.Equal(got, want) {
		t.Fatalf("wrapped %q, want %q", got, want)
	}
	plain := &isolators.Launch{}
	if got := wrap(plain.Shell, inContainer(plain, "/s", "/s/x"), []string{"true"}); !slices.Equal(got, []string{"/bin/sh", "-c", wrapper, "/s/x", "true"}) {
		t.Fatalf("wrapped %q", got)
	}
}
