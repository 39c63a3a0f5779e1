package agent

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/recordio"
)

// Attaching to containers (Mesos' v1 agent calls ATTACH_CONTAINER_OUTPUT,
// ATTACH_CONTAINER_INPUT and LAUNCH_NESTED_CONTAINER_SESSION, issue 21).
// What a client attaches to is a task's container, or a session's:
//
//   - A task launched with ContainerInfo.tty_info runs on a terminal whose
//     master its Process's Board holds: output clients subscribe to it,
//     one input client at a time types into it, CONTROL messages resize it.
//   - Any other task writes straight to its sandbox files (nothing of the
//     agent stands between it and its logs, so an agent restart cannot
//     cost it a byte or a SIGPIPE): output clients follow the files; its
//     stdin is not attachable.
//   - A task recovered after an agent restart has lost its terminal (the
//     agent held the master side, and the kernel hung it up): its output
//     is followed in its sandbox's stdout, its input is not attachable.
//   - A session's stdio is its own Board, pipes or a terminal.
//
// Each call is authorized by its own action (attach_containers_output,
// attach_containers_input, launch_nested_container_sessions,
// wait_nested_containers, kill_nested_containers), whose objects are the
// users the task runs as, as Mesos' local authorizer does.

// Media types and headers of Mesos' streaming calls.
const (
	recordIOMediaType  = "application/recordio"
	messageContentType = "Message-Content-Type"
	messageAccept      = "Message-Accept"
)

// attachHeartbeat is how often an output stream carries a HEARTBEAT when
// nothing else flows (Mesos' default http_heartbeat_interval).
const attachHeartbeat = 30 * time.Second

// outputStall is how long a write to an output client may block: one that
// stops reading for longer is disconnected.
const outputStall = 30 * time.Second

// attachTarget is a container a client attaches to, as the loop saw it.
type attachTarget struct {
	id   string
	user string // the ACLs' object
	// board is the container's switchboard, nil when its output goes
	// to sandbox files only.
	board *iosw.Board
	// stdout and stderr are the sandbox files the output goes to; done is
	// closed when the container has exited.
	stdout, stderr string
	done           <-chan struct{}
}

// ttyOf is the terminal a ContainerInfo asks for, nil for none; a
// tty_info without a window size gets the classic 24×80 (msh
// -interactive sends an empty one).
func ttyOf(c *mesospb.ContainerInfo) *iosw.WindowSize {
	ti := c.GetTtyInfo()
	if ti == nil {
		return nil
	}
	ws := iosw.WindowSize{Rows: 24, Cols: 80}
	if s := ti.GetWindowSize(); s.GetRows() > 0 && s.GetColumns() > 0 {
		ws = iosw.WindowSize{Rows: clampSize(s.GetRows()), Cols: clampSize(s.GetColumns())}
	}
	return &ws
}

func clampSize(v uint32) uint16 { return uint16(min(v, 1<<15)) }

// taskTarget finds the running task whose container is id; it runs on the
// loop.
func (a *Agent) taskTarget(id string) (*taskRun, bool) {
	if id == "" {
		return nil, false
	}
	for _, t := range a.tasks {
		if t.containerID == id && t.running() {
			return t, true
		}
	}
	return nil, false
}

// attachTarget resolves a container ID, a task's or a session's, and
// authorizes action on it. It answers the status and message to refuse
// with when it cannot.
func (a *Agent) attachTarget(ctx context.Context, cid *mesospb.ContainerID, action acl.Action) (attachTarget, int, string) {
	id := cid.GetValue()
	if id == "" {
		return attachTarget{}, http.StatusBadRequest, "Expecting 'container_id.value' to be present"
	}
	var (
		tgt   attachTarget
		found bool
	)
	if s := a.sessions.get(id); s != nil {
		tgt, found = attachTarget{id: id, user: s.user, board: s.run.Stdio, done: s.run.Done()}, true
	} else if err := a.do(ctx, func() {
		t, ok := a.taskTarget(id)
		if !ok {
			return
		}
		found = true
		tgt = attachTarget{id: id, user: t.user(), board: t.proc.Stdio(), done: t.proc.Done(),
			stdout: filepath.Join(t.sandbox, "stdout"), stderr: filepath.Join(t.sandbox, "stderr")}
	}); err != nil {
		return attachTarget{}, http.StatusServiceUnavailable, "Agent is not running: " + err.Error()
	}
	if !found {
		return attachTarget{}, http.StatusNotFound, "Container " + id + " is not running on this agent"
	}
	if status, msg := a.authorizeAttach(ctx, action, tgt.user, id); status != http.StatusOK {
		return attachTarget{}, status, msg
	}
	return tgt, http.StatusOK, ""
}

// authorizeAttach asks action for the containers of user u.
func (a *Agent) authorizeAttach(ctx context.Context, action acl.Action, u, id string) (int, string) {
	principal := auth.Principal(ctx)
	if a.cfg.ACLs.Allowed(principal, action, u) {
		return http.StatusOK, ""
	}
	who := "Principal '" + principal + "'"
	if principal == "" {
		who = "An unauthenticated request"
	}
	return http.StatusForbidden, who + " is not authorized to " + strings.ReplaceAll(string(action), "_", " ") +
		" of container " + id + " (" + string(action) + " for user '" + u + "')"
}

// outputStream writes ProcessIO records to a streaming response.
type outputStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	rec *recordio.Writer
	c   codec.Codec
}

// streamCodec picks the message encoding of a streaming response: Accept
// must allow application/recordio (or anything), Message-Accept names the
// messages' encoding (JSON when absent). ok is false once it has answered.
func streamCodec(w http.ResponseWriter, r *http.Request) (codec.Codec, bool) {
	// Clients may send Accept more than once (mesos-go sends its codec's
	// type, then application/recordio): any of them will do.
	if accept := strings.Join(r.Header.Values("Accept"), ","); accept != "" && !acceptsRecordIO(accept) {
		http.Error(w, "Expecting 'Accept' to allow '"+recordIOMediaType+"' for a streaming response", http.StatusNotAcceptable)
		return nil, false
	}
	c, err := codec.Negotiate(strings.Join(r.Header.Values(messageAccept), ","))
	if err != nil {
		http.Error(w, "Expecting '"+messageAccept+"' to allow JSON or protobuf", http.StatusNotAcceptable)
		return nil, false
	}
	return c, true
}

func acceptsRecordIO(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case recordIOMediaType, "*/*", "application/*":
			return true
		}
	}
	return false
}

// startOutput answers 200 with the streaming headers, at once: a client
// waits for them before it attaches its input.
func startOutput(w http.ResponseWriter, c codec.Codec) *outputStream {
	w.Header().Set("Content-Type", recordIOMediaType)
	w.Header().Set(messageContentType, c.MediaType())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	return &outputStream{w: w, rc: rc, rec: recordio.NewWriter(w), c: c}
}

func (o *outputStream) send(m *agentapipb.ProcessIO) error {
	b, err := o.c.Marshal(m)
	if err != nil {
		return err
	}
	_ = o.rc.SetWriteDeadline(time.Now().Add(outputStall))
	return o.rec.WriteRecord(b)
}

func dataRecord(c iosw.Chunk) *agentapipb.ProcessIO {
	t := agentapipb.ProcessIO_Data_STDOUT
	if c.Stream == iosw.Stderr {
		t = agentapipb.ProcessIO_Data_STDERR
	}
	return &agentapipb.ProcessIO{Type: agentapipb.ProcessIO_DATA.Enum(),
		Data: &agentapipb.ProcessIO_Data{Type: t.Enum(), Data: c.Data}}
}

func heartbeatRecord() *agentapipb.ProcessIO {
	return &agentapipb.ProcessIO{Type: agentapipb.ProcessIO_CONTROL.Enum(), Control: &agentapipb.ProcessIO_Control{
		Type: agentapipb.ProcessIO_Control_HEARTBEAT.Enum(),
		Heartbeat: &agentapipb.ProcessIO_Control_Heartbeat{
			Interval: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(attachHeartbeat))}}}}
}

// source is where an output stream's chunks come from: a Board's Reader,
// or the sandbox files followed.
type source interface {
	Ready() <-chan struct{}
	Take() ([]iosw.Chunk, bool)
}

// pump copies output to the client until it ends, the client is gone or
// stops reading; it reports whether the output ended.
func (o *outputStream) pump(ctx context.Context, src source) bool {
	beat := time.NewTicker(attachHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-src.Ready():
			chunks, more := src.Take()
			for _, c := range chunks {
				if o.send(dataRecord(c)) != nil {
					return false
				}
			}
			if !more {
				return true
			}
		case <-beat.C:
			if o.send(heartbeatRecord()) != nil {
				return false
			}
		}
	}
}

// attachOutput serves ATTACH_CONTAINER_OUTPUT: the container's output
// from now until it ends or the client goes.
func (a *Agent) attachOutput(w http.ResponseWriter, r *http.Request, call *agentapipb.Call) {
	c, ok := streamCodec(w, r)
	if !ok {
		return
	}
	tgt, status, msg := a.attachTarget(r.Context(), call.GetAttachContainerOutput().GetContainerId(), acl.AttachContainersOutput)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	var src source
	if tgt.board != nil {
		sub, err := tgt.board.Subscribe(0)
		if err != nil {
			http.Error(w, "Container "+tgt.id+" is not running on this agent: "+err.Error(), http.StatusNotFound)
			return
		}
		defer sub.Close()
		src = sub
	} else {
		f, err := iosw.Follow(tgt.stdout, tgt.stderr, tgt.done)
		if err != nil {
			http.Error(w, "Cannot follow the output of container "+tgt.id+": "+err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		src = f
	}
	startOutput(w, c).pump(r.Context(), src)
}

// sessionDir is where a session starts: the task's sandbox as the task
// sees it (MESOS_SANDBOX), the host's sandbox otherwise.
func sessionDir(env []string, sandbox string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "MESOS_SANDBOX="); ok && v != "" {
			return v
		}
	}
	return sandbox
}

// sessionArgv is a CommandInfo's command line, as a task's would be.
func sessionArgv(cmd *mesospb.CommandInfo) []string {
	if viaShell(cmd) {
		return []string{"/bin/sh", "-c", cmd.GetValue()}
	}
	if args := cmd.GetArguments(); len(args) > 0 {
		argv := append([]string(nil), args...)
		argv[0] = cmd.GetValue()
		return argv
	}
	return []string{cmd.GetValue()}
}
