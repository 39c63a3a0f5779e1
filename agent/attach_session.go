package agent

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Nested container sessions (LAUNCH_NESTED_CONTAINER_SESSION): a command
// run beside a running task, in its container (its namespaces, cgroups and
// root) on a linux agent, on the host with the task's environment and
// sandbox on a posix one. Its life is its connection's: the response
// streams its output, and when the client goes the session is killed
// with everything it started. Its ID is the caller's ContainerID, whose
// parent is the task's container; the input attaches to that ID, and
// WAIT_NESTED_CONTAINER answers its exit status, also for a while after
// it ended (the client asks once the output has ended).

// maxEndedSessions bounds the ended sessions kept for WAIT.
const maxEndedSessions = 256

// sessionRun is a session the agent started.
type sessionRun struct {
	id, parent string
	user       string // the ACLs' object: its task's user
	run        *containerizer.Session
}

// sessionTable is the agent's sessions: they live off the loop (a
// session is no task; nothing of a task's life depends on one).
type sessionTable struct {
	mu sync.Mutex
	// running and ended are by container ID; order is ended's IDs, oldest
	// first. Guarded by mu.
	running map[string]*sessionRun
	ended   map[string]*sessionRun
	order   []string
}

// reserve claims id for a session about to start; false if it is taken.
func (st *sessionTable) reserve(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.running == nil {
		st.running, st.ended = make(map[string]*sessionRun), make(map[string]*sessionRun)
	}
	if _, taken := st.running[id]; taken {
		return false
	}
	if _, taken := st.ended[id]; taken {
		return false
	}
	st.running[id] = nil
	return true
}

// set records a reserved session as started (s) or not (nil: released).
func (st *sessionTable) set(id string, s *sessionRun) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s == nil {
		delete(st.running, id)
		return
	}
	st.running[id] = s
}

// finish moves a session that ended to the ended ones.
func (st *sessionTable) finish(s *sessionRun) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.running, s.id)
	st.ended[s.id] = s
	st.order = append(st.order, s.id)
	if len(st.order) > maxEndedSessions {
		delete(st.ended, st.order[0])
		st.order = st.order[1:]
	}
}

// get is the running session id, nil if none.
func (st *sessionTable) get(id string) *sessionRun {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.running[id]
}

// lookup is the session id, running or ended.
func (st *sessionTable) lookup(id string) *sessionRun {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.running[id]; s != nil {
		return s
	}
	return st.ended[id]
}

// sessionParent is what a session needs of its task, read on the loop.
type sessionParent struct {
	user    string
	spec    containerizer.Spec
	proc    *containerizer.Process
	sandbox string
}

// launchSession serves LAUNCH_NESTED_CONTAINER_SESSION.
func (a *Agent) launchSession(w http.ResponseWriter, r *http.Request, call *agentapipb.Call) {
	c, ok := streamCodec(w, r)
	if !ok {
		return
	}
	l := call.GetLaunchNestedContainerSession()
	id, parentID := l.GetContainerId().GetValue(), l.GetContainerId().GetParent().GetValue()
	cmd := l.GetCommand()
	switch {
	case id == "":
		http.Error(w, "Expecting 'launch_nested_container_session.container_id.value' to be present", http.StatusBadRequest)
		return
	case parentID == "":
		http.Error(w, "Expecting 'launch_nested_container_session.container_id.parent' to name the task's container", http.StatusBadRequest)
		return
	case cmd.GetValue() == "" && len(cmd.GetArguments()) == 0:
		http.Error(w, "Expecting 'launch_nested_container_session.command' to name a command", http.StatusBadRequest)
		return
	case l.GetContainer().GetMesos().GetImage() != nil || (l.GetContainer() != nil && l.GetContainer().Type != nil && l.GetContainer().GetType() == mesospb.ContainerInfo_DOCKER):
		http.Error(w, "A session runs in its task's root file system: 'launch_nested_container_session.container' may only ask for a terminal", http.StatusBadRequest)
		return
	}
	if err := resources.ValidatePathName("container ID", id); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	run, sub, ok := a.openSession(w, r, id, parentID, cmd, l.GetContainer())
	if !ok {
		return
	}
	defer a.sessions.finish(run)
	defer sub.Close()
	s := run.run
	a.log.Info("session started", "container", id, "parent", parentID, "pid", s.Pid)
	s.Start()
	out := startOutput(w, c)
	ended := out.pump(r.Context(), sub)
	sub.Close() // the session's exit waits for its readers to be done
	if ended {
		select {
		case <-s.Done():
		case <-r.Context().Done():
		}
	}
	s.Kill(syscall.SIGKILL) // the connection closes: nothing of it may stay
	<-s.Done()
	a.log.Info("session ended", "container", id, "exit", s.Exit().String())
}

// openSession begins a session and reads its output from the start (the
// process is not started yet: Start runs it). On failure it has answered;
// on success the caller finishes the run and closes the reader.
func (a *Agent) openSession(w http.ResponseWriter, r *http.Request, id, parentID string, cmd *mesospb.CommandInfo, info *mesospb.ContainerInfo) (*sessionRun, *iosw.Reader, bool) {
	run, status, msg := a.beginSession(r.Context(), id, parentID, cmd, info)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return nil, nil, false
	}
	s := run.run
	sub, err := s.Stdio.Subscribe(0)
	if err != nil { // nothing has read the output yet: cannot happen
		s.Kill(syscall.SIGKILL)
		s.Start()
		<-s.Done()
		a.sessions.finish(run)
		http.Error(w, "Cannot read the session's output: "+err.Error(), http.StatusInternalServerError)
		return nil, nil, false
	}
	return run, sub, true
}

// beginSession starts session id beside the task whose container is
// parentID, once authorized, and registers it; it answers the status and
// message that refuse it. The caller subscribes to its output, starts it
// and, once it has ended, calls a.sessions.finish.
func (a *Agent) beginSession(ctx context.Context, id, parentID string, cmd *mesospb.CommandInfo, info *mesospb.ContainerInfo) (*sessionRun, int, string) {
	var (
		parent sessionParent
		found  bool
		err    error
	)
	if derr := a.do(ctx, func() {
		t, ok := a.taskTarget(parentID)
		if !ok {
			return
		}
		found = true
		parent = sessionParent{user: t.user(), proc: t.proc, sandbox: t.sandbox}
		parent.spec, err = a.spec(t)
	}); derr != nil {
		return nil, http.StatusServiceUnavailable, "Agent is not running: " + derr.Error()
	}
	if !found {
		return nil, http.StatusNotFound, "Container " + parentID + " is not running on this agent"
	}
	if status, msg := a.authorizeAttach(ctx, acl.LaunchNestedContainerSessions, parent.user, parentID); status != http.StatusOK {
		return nil, status, msg
	}
	if err != nil {
		return nil, http.StatusInternalServerError, "Cannot prepare a session in container " + parentID + ": " + err.Error()
	}
	if !a.sessions.reserve(id) {
		return nil, http.StatusConflict, "Container " + id + " already exists"
	}
	s, err := startSession(parent, cmd, info)
	if err != nil {
		a.sessions.set(id, nil)
		return nil, http.StatusBadRequest, "Cannot start the session in container " + parentID + ": " + err.Error()
	}
	run := &sessionRun{id: id, parent: parentID, user: parent.user, run: s}
	a.sessions.set(id, run)
	// The session goes with its task: on a posix agent nothing else would
	// kill it.
	go func() {
		select {
		case <-parent.proc.Done():
			s.Kill(syscall.SIGKILL)
		case <-s.Done():
		}
	}()
	return run, http.StatusOK, ""
}

// startSession starts cmd beside parent's task.
func startSession(parent sessionParent, cmd *mesospb.CommandInfo, info *mesospb.ContainerInfo) (*containerizer.Session, error) {
	env := append([]string(nil), parent.spec.Env...)
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() != mesospb.Environment_Variable_SECRET {
			env = append(env, v.GetName()+"="+v.GetValue())
		}
	}
	if !hasVar(env, "PATH") {
		// An image's PATH is its task's command's, not in the task's env.
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	spec := containerizer.SessionSpec{Argv: sessionArgv(cmd), Env: env, Dir: sessionDir(env, parent.sandbox),
		User: parent.spec.User, TTY: ttyOf(info)}
	s, err, ok := parent.proc.Session(spec)
	if !ok {
		spec.Dir = parent.sandbox // on the host, the sandbox is where the task runs
		s, err = containerizer.HostSession(spec)
	}
	return s, err
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// waitNested serves WAIT_NESTED_CONTAINER for a session: its wait(2)
// status once it has ended.
func (a *Agent) waitNested(ctx context.Context, call *agentapipb.Call) (*agentapipb.Response, int, string) {
	id := call.GetWaitNestedContainer().GetContainerId().GetValue()
	s := a.sessions.lookup(id)
	if s == nil {
		return nil, http.StatusNotFound, "Container " + id + " is no session of this agent"
	}
	if status, msg := a.authorizeAttach(ctx, acl.WaitNestedContainers, s.user, id); status != http.StatusOK {
		return nil, status, msg
	}
	select {
	case <-s.run.Done():
	case <-ctx.Done():
		return nil, http.StatusServiceUnavailable, "The wait was cancelled"
	}
	return waitResponse(s.run.Exit()), http.StatusOK, ""
}

// waitResponse is WAIT_NESTED_CONTAINER's answer for an exit: its wait(2)
// status, absent when the exit is not known.
func waitResponse(e containerizer.Exit) *agentapipb.Response {
	out := &agentapipb.Response_WaitNestedContainer{}
	if e.Err == nil {
		status := int32(e.Code&0xff) << 8 // exited, with its code
		if e.Signal != 0 {
			status = int32(e.Signal) // killed by a signal
		}
		out.ExitStatus = proto.Int32(status)
	}
	return &agentapipb.Response{Type: agentapipb.Response_WAIT_NESTED_CONTAINER.Enum(), WaitNestedContainer: out}
}

// killNested serves KILL_NESTED_CONTAINER for a session: the signal
// (SIGKILL by default) goes to everything it started.
func (a *Agent) killNested(ctx context.Context, call *agentapipb.Call) (int, string) {
	k := call.GetKillNestedContainer()
	id := k.GetContainerId().GetValue()
	s := a.sessions.get(id)
	if s == nil {
		return http.StatusNotFound, "Container " + id + " is no running session of this agent"
	}
	if status, msg := a.authorizeAttach(ctx, acl.KillNestedContainers, s.user, id); status != http.StatusOK {
		return status, msg
	}
	sig := syscall.SIGKILL
	if k.Signal != nil {
		if n := k.GetSignal(); n <= 0 || n > 64 {
			return http.StatusBadRequest, "Expecting 'kill_nested_container.signal' to be a signal number"
		}
		sig = syscall.Signal(k.GetSignal())
	}
	s.run.Kill(sig)
	return http.StatusOK, ""
}
