// Package docker holds docker/runtime, the isolator that runs a container
// made from an image the way the image says, as Mesos' docker/runtime
// isolator does: the image's Entrypoint and Cmd combined with the task's
// CommandInfo, its Env under the task's, its WorkingDir, and its User
// unless the task's CommandInfo names one (images/runtime holds the
// rules). Containers without an image are left as they are.
package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/images/runtime"
	"github.com/corral-sched/corral/internal/safetree"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Runtime is docker/runtime.
type Runtime struct{}

var _ isolators.Isolator = Runtime{}

// Name is Mesos' name.
func (Runtime) Name() string { return "docker/runtime" }

// defaultPath is the PATH of a container whose image and task set none,
// Mesos' and Docker's default.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Prepare sets the process of a container whose root is an image's
// (filesystem/linux set l.Image).
func (Runtime) Prepare(_ context.Context, c *isolators.Container, l *isolators.Launch) error {
	if l.Image == nil {
		return nil
	}
	var cmd *mesospb.CommandInfo
	if c.Command != nil {
		cmd = proto.Clone(c.Command).(*mesospb.CommandInfo)
	}
	var env *mesospb.Environment
	for _, kv := range l.Process.Env {
		name, value, _ := strings.Cut(kv, "=")
		env = appendVar(env, name, value)
	}
	if cmd != nil {
		cmd.Environment = env
	} else if env != nil {
		// No command: the image's own, with the agent's variables.
		cmd = &mesospb.CommandInfo{Shell: proto.Bool(false), Environment: env}
	}
	launch, err := runtime.Apply(l.Image.Config, cmd)
	if err != nil {
		return fmt.Errorf("image %s: %w", l.Image.Name, err)
	}
	path, argv := launch.Command.Argv()
	l.Process.Args = append([]string{path}, argv[1:]...)
	l.Process.Env = launch.Env
	if !hasVar(l.Process.Env, "PATH") {
		l.Process.Env = append(l.Process.Env, "PATH="+defaultPath)
	}
	if launch.WorkingDir != "" {
		l.Process.Cwd = launch.WorkingDir
	}
	user := c.User // the framework's, unless the task or the image names one
	if launch.User != "" {
		user = launch.User
	}
	if user == "" {
		return nil
	}
	ids, err := lookupUser(l.Rootfs, user)
	if err != nil {
		return fmt.Errorf("image %s: user %q: %w", l.Image.Name, user, err)
	}
	l.Process.User = ids
	return nil
}

func appendVar(env *mesospb.Environment, name, value string) *mesospb.Environment {
	if env == nil {
		env = &mesospb.Environment{}
	}
	env.Variables = append(env.Variables, &mesospb.Environment_Variable{Name: proto.String(name), Value: proto.String(value)})
	return env
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); n == name {
			return true
		}
	}
	return false
}

// lookupUser resolves "user[:group]" (names or numbers) in the image's
// /etc/passwd and /etc/group, as `docker run` does, to "uid:gid". The
// files are read beneath the root only: an image's links never lead to
// the host's files.
func lookupUser(rootfs, spec string) (string, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	uid, gid := -1, 0
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		uid = n
	}
	passwd, err := readBeneath(rootfs, "etc/passwd")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	found := false
	for _, f := range entries(passwd, 7) {
		n, err1 := strconv.Atoi(f[2])
		g, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || !(f[0] == name || (uid >= 0 && n == uid)) {
			continue
		}
		uid, gid, found = n, g, true
		break
	}
	switch {
	case !found && name == "root":
		uid, gid = 0, 0
	case !found && uid < 0:
		return "", errors.New("not in the image's /etc/passwd")
	}
	if hasGroup {
		g, err := lookupGroup(rootfs, group)
		if err != nil {
			return "", err
		}
		gid = g
	}
	return fmt.Sprintf("%d:%d", uid, gid), nil
}

func lookupGroup(rootfs, group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	groups, err := readBeneath(rootfs, "etc/group")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	for _, f := range entries(groups, 4) {
		if f[0] == group {
			if g, err := strconv.Atoi(f[2]); err == nil {
				return g, nil
			}
		}
	}
	if group == "root" {
		return 0, nil
	}
	return 0, fmt.Errorf("group %q is not in the image's /etc/group", group)
}

// entries splits passwd/group lines into their fields, skipping lines
// without at least n of them.
func entries(data []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

// readBeneath reads a small file of the image's root, never through a
// link that leaves it.
func readBeneath(rootfs, rel string) ([]byte, error) {
	t, err := safetree.Open(rootfs, safetree.Beneath)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	fd, err := t.OpenAt(rel, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	const limit = 4 << 20 // far beyond any real passwd file
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("/%s is larger than %d bytes", rel, limit)
	}
	return b, nil
}
