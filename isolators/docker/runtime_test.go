package docker

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// imageRoot is a root with the passwd and group files of an image.
func imageRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# a comment\nweb:x:1000:1001:web:/srv:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
		"etc/group":  "root:x:0:\nweb:x:1001:\nstaff:x:50:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRuntimeAppliesTheImage(t *testing.T) {
	root := imageRoot(t)
	img := runtime.Image{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"}, Env: []string{"PATH=/app/bin", "MODE=image"},
		WorkingDir: "/srv", User: "web"}
	for _, c := range []struct {
		name     string
		cmd      *mesospb.CommandInfo
		user     string // the framework's
		image    runtime.Image
		args     []string
		env      []string
		cwd, ids string
	}{
		{"image's own command", &mesospb.CommandInfo{Shell: proto.Bool(false)}, "root", img,
			[]string{"/bin/app", "--serve"}, []string{"PATH=/app/bin", "MODE=image", "MESOS_SANDBOX=/mnt/mesos/sandbox"}, "/srv", "1000:1001"},
		{"arguments replace Cmd; task env wins", &mesospb.CommandInfo{Shell: proto.Bool(false), Arguments: []string{"--check"}}, "root", img,
			[]string{"/bin/app", "--check"}, []string{"PATH=/app/bin", "MODE=task", "MESOS_SANDBOX=/mnt/mesos/sandbox"}, "/srv", "1000:1001"},
		{"the task's user wins", &mesospb.CommandInfo{Shell: proto.Bool(true), Value: proto.String("exec app"), User: proto.String("nobody")}, "root", img,
			[]string{"/bin/sh", "-c", "exec app"}, nil, "/srv", "65534:65534"},
		{"no image user: the framework's", &mesospb.CommandInfo{Shell: proto.Bool(false)}, "web:staff", runtime.Image{Cmd: []string{"/x"}},
			[]string{"/x"}, []string{"MESOS_SANDBOX=/mnt/mesos/sandbox", "PATH=" + defaultPath}, "/mnt/mesos/sandbox", "1000:50"},
		{"numeric ids not in passwd", &mesospb.CommandInfo{Shell: proto.Bool(false)}, "", runtime.Image{Cmd: []string{"/x"}, User: "4242"},
			[]string{"/x"}, nil, "/mnt/mesos/sandbox", "4242:0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := []string{"MESOS_SANDBOX=/mnt/mesos/sandbox"}
			if c.name == "arguments replace Cmd; task env wins" {
				env = append(env, "MODE=task")
			}
			l := &isolators.Launch{Rootfs: root, Image: &isolators.Image{Name: "web:1", Config: c.image},
				Process: isolators.Process{Env: env, Cwd: isolators.ContainerSandbox}}
			ic := &isolators.Container{ID: "c", User: c.user, Command: c.cmd}
			if c.cmd.GetUser() != "" {
				ic.User = c.cmd.GetUser()
			}
			if err := (Runtime{}).Prepare(context.Background(), ic, l); err != nil {
				t.Fatal(err)
			}
			p := l.Process
			if !slices.Equal(p.Args, c.args) || (c.env != nil && !slices.Equal(p.Env, c.env)) || p.Cwd != c.cwd || p.User != c.ids {
				t.Fatalf("process %+v; want args %v env %v cwd %s user %s", p, c.args, c.env, c.cwd, c.ids)
			}
		})
	}
}

func TestRuntimeRefusals(t *testing.T) {
	root := imageRoot(t)
	for _, c := range []struct {
		name string
		img  runtime.Image
		cmd  *mesospb.CommandInfo
		want string
	}{
		{"nothing to run", runtime.Image{}, &mesospb.CommandInfo{Shell: proto.Bool(false)}, "neither Entrypoint nor Cmd"},
		{"unknown user", runtime.Image{Cmd: []string{"/x"}, User: "alice"}, &mesospb.CommandInfo{Shell: proto.Bool(false)}, `user "alice": not in the image's /etc/passwd`},
		{"unknown group", runtime.Image{Cmd: []string{"/x"}, User: "web:wheel"}, &mesospb.CommandInfo{Shell: proto.Bool(false)}, `group "wheel"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &isolators.Launch{Rootfs: root, Image: &isolators.Image{Name: "web:1", Config: c.img}}
			err := (Runtime{}).Prepare(context.Background(), &isolators.Container{ID: "c", Command: c.cmd}, l)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "web:1") {
				t.Fatalf("Prepare: %v, want an error naming web:1 and %q", err, c.want)
			}
		})
	}
	// A passwd that is a link out of the image is not read.
	escape := t.TempDir()
	if err := os.MkdirAll(filepath.Join(escape, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(escape, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	l := &isolators.Launch{Rootfs: escape, Image: &isolators.Image{Name: "evil:1", Config: runtime.Image{Cmd: []string{"/x"}, User: "daemon"}}}
	if err := (Runtime{}).Prepare(context.Background(), &isolators.Container{ID: "c"}, l); err == nil {
		t.Fatalf("the host's passwd was read through the image's link: user %q", l.Process.User)
	}
	// Containers without an image are not touched.
	plain := &isolators.Launch{Process: isolators.Process{Args: []string{"/bin/true"}}}
	if err := (Runtime{}).Prepare(context.Background(), &isolators.Container{ID: "c"}, plain); err != nil || plain.Process.Args[0] != "/bin/true" {
		t.Fatalf("%v, %+v", err, plain)
	}
}
