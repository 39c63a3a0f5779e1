package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
	"google.golang.org/protobuf/proto"
)

// TestCommandTable walks Mesos' table: every combination of shell, value
// and arguments against an image with neither, Cmd, Entrypoint or both.
func TestCommandTable(t *testing.T) {
	images := []Image{
		{},
		{Cmd: []string{"/cmd", "c1"}},
		{Entrypoint: []string{"/ep", "e1"}},
		{Entrypoint: []string{"/ep", "e1"}, Cmd: []string{"/cmd", "c1"}},
	}
	shellCmd := Command{Shell: true, Value: "/value"}
	errNo, errShell := ErrNoExecutable, ErrShellWithoutValue
	type want struct {
		cmd Command
		err error
	}
	argv := func(a ...string) Command { return Command{Value: a[0], Arguments: a} }
	rows := []struct {
		sh, value, args bool
		cols            [4]want
	}{
		{false, false, false, [4]want{{err: errNo}, {cmd: argv("/cmd", "c1")}, {cmd: argv("/ep", "e1")}, {cmd: argv("/ep", "e1", "/cmd", "c1")}}},
		{false, false, true, [4]want{{err: errNo}, {cmd: argv("/cmd", "a0", "a1")}, {cmd: argv("/ep", "e1", "a0", "a1")}, {cmd: argv("/ep", "e1", "a0", "a1")}}},
		{false, true, false, [4]want{{cmd: Command{Value: "/value"}}, {cmd: Command{Value: "/value"}}, {cmd: Command{Value: "/value"}}, {cmd: Command{Value: "/value"}}}},
		{false, true, true, [4]want{
			{cmd: Command{Value: "/value", Arguments: []string{"a0", "a1"}}}, {cmd: Command{Value: "/value", Arguments: []string{"a0", "a1"}}},
			{cmd: Command{Value: "/value", Arguments: []string{"a0", "a1"}}}, {cmd: Command{Value: "/value", Arguments: []string{"a0", "a1"}}}}},
		{true, false, false, [4]want{{err: errShell}, {err: errShell}, {err: errShell}, {err: errShell}}},
		{true, false, true, [4]want{{err: errShell}, {err: errShell}, {err: errShell}, {err: errShell}}},
		{true, true, false, [4]want{{cmd: shellCmd}, {cmd: shellCmd}, {cmd: shellCmd}, {cmd: shellCmd}}},
		{true, true, true, [4]want{{cmd: shellCmd}, {cmd: shellCmd}, {cmd: shellCmd}, {cmd: shellCmd}}},
	}
	for _, r := range rows {
		for i, img := range images {
			name := fmt.Sprintf("sh=%v,value=%v,argv=%v/entrypoint=%v,cmd=%v", r.sh, r.value, r.args, img.Entrypoint != nil, img.Cmd != nil)
			t.Run(name, func(t *testing.T) {
				ci := &mesospb.CommandInfo{Shell: proto.Bool(r.sh)}
				if r.value {
					ci.Value = proto.String("/value")
				}
				if r.args {
					ci.Arguments = []string{"a0", "a1"}
				}
				l, err := Apply(img, ci)
				w := r.cols[i]
				if w.err != nil {
					if !errors.Is(err, w.err) {
						t.Fatalf("error %v, want %v", err, w.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(l.Command, w.cmd) {
					t.Fatalf("command %+v, want %+v", l.Command, w.cmd)
				}
			})
		}
	}
}

func TestShellDefaultAndNil(t *testing.T) {
	img := Image{Entrypoint: []string{"/ep"}, Cmd: []string{"x"}}
	l, err := Apply(img, &mesospb.CommandInfo{Value: proto.String("echo hi")})
	if err != nil || !l.Command.Shell || l.Command.Value != "echo hi" {
		t.Errorf("unset shell: %+v %v (Mesos' default is shell=true)", l.Command, err)
	}
	l, err = Apply(img, nil)
	if err != nil || !reflect.DeepEqual(l.Command, Command{Value: "/ep", Arguments: []string{"/ep", "x"}}) {
		t.Errorf("nil command: %+v %v", l.Command, err)
	}
}

func TestArgv(t *testing.T) {
	for _, c := range []struct {
		cmd  Command
		path string
		argv []string
	}{
		{Command{Shell: true, Value: "echo $X"}, "/bin/sh", []string{"/bin/sh", "-c", "echo $X"}},
		{Command{Value: "/bin/true"}, "/bin/true", []string{"/bin/true"}},
		{Command{Value: "/bin/busybox", Arguments: []string{"sh", "-c", "x"}}, "/bin/busybox", []string{"sh", "-c", "x"}},
	} {
		p, a := c.cmd.Argv()
		if p != c.path || !reflect.DeepEqual(a, c.argv) {
			t.Errorf("%+v: %s %q, want %s %q", c.cmd, p, a, c.path, c.argv)
		}
	}
}

func TestEnvUserWorkingDir(t *testing.T) {
	img := Image{
		Cmd:        []string{"/bin/sh"},
		Env:        []string{"PATH=/usr/bin", "A=image", "BROKEN", "B=x=y", "A=again"},
		WorkingDir: "/srv",
		User:       "app",
	}
	ci := &mesospb.CommandInfo{Shell: proto.Bool(false), Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
		{Name: proto.String("A"), Value: proto.String("task")},
		{Name: proto.String("C"), Value: proto.String("new")},
		{Name: proto.String("S"), Type: mesospb.Environment_Variable_SECRET.Enum()},
	}}}
	l, err := Apply(img, ci)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/bin", "A=task", "B=x=y", "C=new"}; !reflect.DeepEqual(l.Env, want) {
		t.Errorf("env %q, want %q", l.Env, want)
	}
	if l.WorkingDir != "/srv" || l.User != "app" {
		t.Errorf("working dir %q user %q", l.WorkingDir, l.User)
	}
	ci.User = proto.String("nobody")
	if l, _ := Apply(img, ci); l.User != "nobody" {
		t.Errorf("the task's user should win, got %q", l.User)
	}
	if l, _ := Apply(Image{Cmd: []string{"x"}}, ci); l.WorkingDir != "" || !reflect.DeepEqual(l.Env, []string{"A=task", "C=new"}) {
		t.Errorf("no image working dir: %q, env %q", l.WorkingDir, l.Env)
	}
}
