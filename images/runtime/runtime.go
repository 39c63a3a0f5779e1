// Package runtime applies an image's runtime configuration to a task the
// way Mesos' docker/runtime isolator does: the image's Entrypoint and Cmd
// combined with the task's CommandInfo (shell, value, arguments), the
// image's Env under the task's, its WorkingDir, and its User unless the
// task names one. It is pure: no I/O, no clock.
//
// The command rules, 0 = not given, 1 = given (Mesos' table):
//
//	                 Entrypoint=0   Entrypoint=0   Entrypoint=1     Entrypoint=1
//	                 Cmd=0          Cmd=1          Cmd=0            Cmd=1
//	sh=0 value=0     error          Cmd[0]         Entrypt[0]       Entrypt[0]
//	argv=0                          Cmd[1..]       Entrypt[1..]     Entrypt[1..] Cmd..
//	sh=0 value=0     error          Cmd[0]         Entrypt[0]       Entrypt[0]
//	argv=1                          argv           Entrypt[1..]     Entrypt[1..]
//	                                               argv             argv
//	sh=0 value=1     value          value          value            value
//	sh=0 value=1     value argv     value argv     value argv       value argv
//	argv=1
//	sh=1 value=0     error          error          error            error
//	sh=1 value=1     /bin/sh -c value (the image's Entrypoint and Cmd are ignored)
//
// As in Mesos, when the task gives arguments they replace the image's Cmd
// entirely and are appended whole (Mesos does not drop an argv[0] there);
// with shell=false and a value, the task's command runs exactly as given.
// An unset CommandInfo.shell means true, as in Mesos; a nil CommandInfo
// means "run the image's own command".
package runtime

import (
	"errors"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Image is the part of an image's config that shapes how a task runs.
type Image struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE
	WorkingDir string
	User       string
}

// Command is a CommandInfo after the rules: what the launcher runs.
type Command struct {
	Shell     bool
	Value     string
	Arguments []string // the whole argv, argv[0] included, when Shell is false
}

// Argv is the executable and the argv to exec it with.
func (c Command) Argv() (path string, argv []string) {
	switch {
	case c.Shell:
		return "/bin/sh", []string{"/bin/sh", "-c", c.Value}
	case len(c.Arguments) == 0:
		return c.Value, []string{c.Value}
	}
	return c.Value, append([]string(nil), c.Arguments...)
}

// Launch is how a task from an image runs.
type Launch struct {
	Command    Command
	Env        []string // KEY=VALUE: the image's, overridden and extended by the task's
	WorkingDir string   // "" when the image names none (the caller uses the sandbox)
	User       string   // "" when neither the task nor the image names one
}

// Errors for the rule table's "error" cells.
var (
	ErrShellWithoutValue = errors.New("CommandInfo.shell is true but CommandInfo.value is empty")
	ErrNoExecutable      = errors.New("the image has neither Entrypoint nor Cmd and the task gives no command")
)

// Apply combines img with the task's command. The task's user is
// cmd.user; a caller that also honours FrameworkInfo.user puts it there
// first.
func Apply(img Image, cmd *mesospb.CommandInfo) (Launch, error) {
	c, err := command(img, cmd)
	if err != nil {
		return Launch{}, err
	}
	l := Launch{Command: c, Env: mergeEnv(img.Env, cmd.GetEnvironment()), WorkingDir: img.WorkingDir, User: img.User}
	if u := cmd.GetUser(); u != "" {
		l.User = u
	}
	return l, nil
}

func command(img Image, cmd *mesospb.CommandInfo) (Command, error) {
	shell := cmd != nil && (cmd.Shell == nil || cmd.GetShell())
	value, args := cmd.GetValue(), cmd.GetArguments()
	if shell {
		if value == "" {
			return Command{}, ErrShellWithoutValue
		}
		return Command{Shell: true, Value: value}, nil
	}
	if value != "" {
		return Command{Value: value, Arguments: clone(args)}, nil
	}
	var argv []string
	switch {
	case len(img.Entrypoint) > 0:
		argv = append(argv, img.Entrypoint...)
		if len(args) > 0 {
			argv = append(argv, args...)
		} else {
			argv = append(argv, img.Cmd...)
		}
	case len(img.Cmd) > 0:
		argv = append(argv, img.Cmd[0])
		if len(args) > 0 {
			argv = append(argv, args...)
		} else {
			argv = append(argv, img.Cmd[1:]...)
		}
	default:
		return Command{}, ErrNoExecutable
	}
	return Command{Value: argv[0], Arguments: argv}, nil
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

// mergeEnv keeps the image's variables in the image's order, each
// replaced by the task's value where the task sets it, then the task's
// other variables in its order. Entries without "=" are dropped, as
// Mesos drops them; only plain values come from the task (secrets are
// resolved by the agent).
func mergeEnv(image []string, task *mesospb.Environment) []string {
	taskVals := map[string]string{}
	var taskOrder []string
	for _, v := range task.GetVariables() {
		if v.GetType() == mesospb.Environment_Variable_SECRET {
			continue
		}
		if _, seen := taskVals[v.GetName()]; !seen {
			taskOrder = append(taskOrder, v.GetName())
		}
		taskVals[v.GetName()] = v.GetValue()
	}
	var out []string
	index := map[string]int{}
	for _, kv := range image {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if tv, ok := taskVals[name]; ok {
			val = tv
		}
		if i, dup := index[name]; dup {
			out[i] = name + "=" + val
			continue
		}
		index[name] = len(out)
		out = append(out, name+"="+val)
	}
	for _, name := range taskOrder {
		if _, done := index[name]; !done {
			out = append(out, name+"="+taskVals[name])
		}
	}
	return out
}
