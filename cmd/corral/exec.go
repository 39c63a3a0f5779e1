package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/attachclient"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// `corral exec` runs a command beside a running task (a nested container
// session on the task's agent: in its container on a linux agent) and
// `corral attach` attaches to a task's own stdio, both through Mesos' v1
// agent API. The master's operator API says which agent runs the task.

// inTask runs a session (exec, attach) with the container of task
// args[0], until SIGINT, SIGTERM or SIGHUP.
func inTask(session func(ctx context.Context, cmd *cobra.Command, agentClient *attachclient.Client, container string, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		agentClient, container, err := taskContainer(cmd, args[0])
		if err != nil {
			return err
		}
		ctx, stop := untilSignalled(cmd, syscall.SIGHUP)
		defer stop()
		return session(ctx, cmd, agentClient, container, args)
	}
}

// exitStatus is a remote command's exit status, which becomes corral's.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("the command exited with status %d", int(e)) }

// ExitCode is the status main exits with.
func (e exitStatus) ExitCode() int { return int(e) }

// taskContainer finds a running task through the master: the agent that
// runs it and its container's ID.
func taskContainer(cmd *cobra.Command, taskID string) (*attachclient.Client, string, error) {
	c, err := newOperatorClient(cmd)
	if err != nil {
		return nil, "", err
	}
	resp, err := c.get(masterpb.Call_GET_TASKS)
	if err != nil {
		return nil, "", err
	}
	task := findTask(taskID, resp.GetGetTasks().GetTasks())
	if task == nil {
		return nil, "", fmt.Errorf("no running task %q at the master (see `corral tasks`)", taskID)
	}
	if task.GetState() != mesospb.TaskState_TASK_RUNNING {
		return nil, "", fmt.Errorf("task %q is %s, not running", taskID, task.GetState())
	}
	container := ""
	for _, st := range task.GetStatuses() {
		if id := st.GetContainerStatus().GetContainerId().GetValue(); id != "" {
			container = id
		}
	}
	if container == "" {
		return nil, "", fmt.Errorf("task %q has no container the agent reported", taskID)
	}
	a, err := findAgent(c, task.GetAgentId().GetValue())
	if err != nil {
		return nil, "", err
	}
	scheme, _, _ := strings.Cut(c.base, "://") // agents serve TLS when the master does
	// The streams last as long as the session: no overall timeout.
	client := &http.Client{Transport: c.http.Transport}
	return &attachclient.Client{Base: scheme + "://" + strings.TrimPrefix(a.GetPid(), "agent@"), HTTP: client}, container, nil
}

func runExec(ctx context.Context, cmd *cobra.Command, agentClient *attachclient.Client, parent string, args []string) error {
	stdin, _ := cmd.Flags().GetBool("stdin")
	tty, _ := cmd.Flags().GetBool("tty")
	local := localTerminal(cmd, tty)
	if tty && local == nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "corral: unable to use a terminal: stdin is not one; running without -t")
		tty = false
	}
	var container *mesospb.ContainerInfo
	if tty {
		rows, cols := local.size()
		container = attachclient.TTY(rows, cols)
	}
	id := "exec-" + randomHex(8)
	command := &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String(args[1]), Arguments: args[1:]}
	out, err := agentClient.LaunchSession(ctx, id, parent, command, container)
	if err != nil {
		return err
	}
	defer out.Close()
	nested := attachclient.ContainerID(id, parent)
	in, err := agentClient.AttachInput(ctx, nested)
	if err != nil {
		return err
	}
	if !stdin {
		// No input: the command reads end of file at once. The agent answers
		// the input call when the command's output is over, so not here.
		go func() { _ = in.Close() }()
	} else {
		if tty {
			restore, err := local.takeOver(ctx, in)
			if err != nil {
				return err
			}
			defer restore()
		}
		go func() {
			if _, err := io.Copy(in, cmd.InOrStdin()); err == nil {
				_ = in.Close() // end of stdin is the command's end of input
			}
		}()
	}
	if err := out.Copy(cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the command's output: %w", err)
	}
	if ctx.Err() != nil {
		return exitStatus(130) // interrupted: closing the stream killed the session
	}
	wctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	status, known, err := agentClient.Wait(wctx, nested)
	if err != nil {
		return err
	}
	if !known {
		return errors.New("the agent could not tell how the command ended")
	}
	if code := attachclient.ExitCode(status); code != 0 {
		return exitStatus(code)
	}
	return nil
}

func runAttach(ctx context.Context, cmd *cobra.Command, agentClient *attachclient.Client, id string, _ []string) error {
	stdin, _ := cmd.Flags().GetBool("stdin")
	ctx, detach := context.WithCancel(ctx)
	defer detach()
	out, err := agentClient.AttachOutput(ctx, attachclient.ContainerID(id, ""))
	if err != nil {
		return err
	}
	defer out.Close()
	if stdin {
		in, err := agentClient.AttachInput(ctx, attachclient.ContainerID(id, ""))
		if err != nil {
			return err
		}
		defer in.Abort() // detaching is no end of input
		if local := localTerminal(cmd, true); local != nil {
			restore, err := local.takeOver(ctx, in)
			if err != nil {
				return err
			}
			defer restore()
		}
		go func() {
			_ = copyUntilEscape(in, cmd.InOrStdin())
			detach()
		}()
	}
	if err := out.Copy(cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the task's output: %w", err)
	}
	return nil
}

// detachKeys is Ctrl-P Ctrl-Q, docker's and msh's way out of an attach.
var detachKeys = []byte{0x10, 0x11}

// copyUntilEscape copies typed input until it ends or detachKeys are
// typed.
func copyUntilEscape(dst io.Writer, src io.Reader) error {
	buf := make([]byte, 4096)
	var last byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if i := bytes.Index(chunk, detachKeys); i >= 0 || (last == detachKeys[0] && chunk[0] == detachKeys[1]) {
				return nil
			}
			last = chunk[n-1]
			if _, werr := dst.Write(chunk); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// terminal is the local terminal when stdin is one.
type terminal struct{ fd int }

func localTerminal(cmd *cobra.Command, want bool) *terminal {
	f, ok := cmd.InOrStdin().(*os.File)
	if !want || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &terminal{fd: int(f.Fd())}
}

func (t *terminal) size() (rows, cols uint32) {
	w, h, err := term.GetSize(t.fd)
	if err != nil || w <= 0 || h <= 0 {
		return 24, 80
	}
	return uint32(h), uint32(w)
}

// takeOver makes the terminal the remote one's until ctx ends: raw mode,
// so that keys go to the remote terminal as typed (^C included), and its
// size sent to in whenever it changes. restore gives the terminal back.
func (t *terminal) takeOver(ctx context.Context, in *attachclient.Input) (restore func(), err error) {
	state, err := term.MakeRaw(t.fd)
	if err != nil {
		return nil, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	go t.forwardResizes(ctx, in)
	return func() { _ = term.Restore(t.fd, state) }, nil
}

// forwardResizes sends the terminal's size whenever it changes (SIGWINCH).
func (t *terminal) forwardResizes(ctx context.Context, in *attachclient.Input) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-winch:
			rows, cols := t.size()
			if in.Resize(rows, cols) != nil {
				return
			}
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
