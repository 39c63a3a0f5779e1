package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// taskRun is a task on this agent, from launch until its last status
// update is acknowledged.
type taskRun struct {
	key         statusupdate.Key
	framework   *mesospb.FrameworkInfo
	info        *mesospb.TaskInfo
	containerID string
	sandbox     string
	proc        *containerizer.Process
	state       mesospb.TaskState
	last        *mesospb.TaskStatus
	killed      bool // a kill was asked for: the exit is TASK_KILLED
	exited      bool
	// limit, when set, is why the agent itself killed the task (it ran
	// past max_completion_time): the exit is TASK_FAILED with it.
	limit   *mesospb.TaskStatus_Reason
	timeout *time.Timer
	// Health: the latest result (nil before the first), failures in a
	// row, whether a check ever passed, and why the agent killed the task
	// for failing them.
	health        *bool
	checkFailures int
	checkPassed   bool
	healthKill    string
	stopChecks    context.CancelFunc
	// limitation is the resource limit the container hit; limitMessage
	// says so for limits the agent enforces itself (disk).
	limitation   *mesospb.TaskResourceLimitation
	limitMessage string
	// diskBytes is the sandbox's size at the last measurement.
	diskBytes int64
	// launching is set while the container is being created off the loop.
	launching bool
	// cpFramework and cpTask are framework and info marshalled for the
	// checkpoint, once: neither changes, and the checkpoint is rewritten
	// on every update.
	cpFramework, cpTask []byte
	// group is the task group the task belongs to, if any; exec the
	// custom executor that runs it.
	group *taskGroupRun
	exec  *executorRun
	// startTime tells the task's process from a later one with its pid;
	// pidHint is the pid a checkpoint names, until the process is found.
	startTime uint64
	pidHint   int
}

func keyOf(fw *mesospb.FrameworkID, task *mesospb.TaskID) statusupdate.Key {
	return statusupdate.Key{FrameworkID: fw.GetValue(), TaskID: task.GetValue()}
}

// executorID is the task's executor: its group's, or its own command
// executor (named after the task, as in Mesos).
func (t *taskRun) executorID() string {
	if t.exec != nil {
		return t.exec.key.executor
	}
	if t.group != nil {
		return t.group.executorID
	}
	return t.key.TaskID
}

// report describes the task for a re-subscription.
func (t *taskRun) report(agentID string) *mesospb.Task {
	rt := &mesospb.Task{
		Name:        t.info.Name,
		TaskId:      t.info.TaskId,
		FrameworkId: t.framework.GetId(),
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String(t.executorID())},
		AgentId:     &mesospb.AgentID{Value: proto.String(agentID)},
		State:       t.state.Enum(),
		Resources:   t.info.GetResources(),
		Labels:      t.info.Labels,
		KillPolicy:  t.info.KillPolicy,
	}
	if t.last != nil {
		rt.Statuses = []*mesospb.TaskStatus{t.last}
	}
	return rt
}

// launch starts a task: STARTING, then RUNNING once the process exists,
// or FAILED if it cannot be started.
func (a *Agent) launch(l *agentpb.Event_Launch) {
	if msg := launchPathProblem(l); msg != "" {
		a.log.Warn("refusing a launch", "reason", msg)
		tasks := l.GetTaskGroup().GetTasks()
		if l.GetTask() != nil {
			tasks = []*mesospb.TaskInfo{l.GetTask()}
		}
		for _, ti := range tasks {
			a.rejectLaunch(l.GetFrameworkInfo(), ti, msg)
		}
		return
	}
	ti := l.GetTask()
	if ti == nil {
		if ex := l.GetExecutor(); ex.GetType() == mesospb.ExecutorInfo_DEFAULT && len(l.GetTaskGroup().GetTasks()) > 0 {
			a.launchGroup(l)
			return
		}
		for _, gt := range l.GetTaskGroup().GetTasks() {
			a.rejectLaunch(l.GetFrameworkInfo(), gt, "Task groups need the DEFAULT executor on this agent")
		}
		return
	}
	k := keyOf(l.GetFrameworkInfo().GetId(), ti.GetTaskId())
	if t := a.tasks[k]; t != nil && !mesospb.IsTerminal(t.state) {
		a.log.Warn("ignoring a second launch of a running task", "task", k.TaskID, "framework", k.FrameworkID)
		return
	}
	t := &taskRun{key: k, framework: l.GetFrameworkInfo(), info: ti, containerID: uuid.New().String()}
	a.tasks[k] = t
	a.metrics.launches.Inc()
	if ti.Executor != nil {
		a.launchWithExecutor(t)
		return
	}
	runs := filepath.Join(a.cfg.WorkDir, "agents", a.ID(), "frameworks", k.FrameworkID, "executors", k.TaskID, "runs")
	t.sandbox = filepath.Join(runs, t.containerID)
	a.startTask(t, func() error { return makeSandbox(runs, t.containerID) })
}

// launchPathProblem checks the IDs a launch puts in sandbox paths. The
// master validates them; the agent checks again because a path that
// leaves the work dir would be created as root.
func launchPathProblem(l *agentpb.Event_Launch) string {
	ids := []struct{ what, id string }{{"framework ID", l.GetFrameworkInfo().GetId().GetValue()}}
	if ti := l.GetTask(); ti != nil {
		ids = append(ids, struct{ what, id string }{"task ID", ti.GetTaskId().GetValue()})
		if ti.Executor != nil {
			ids = append(ids, struct{ what, id string }{"executor ID", ti.GetExecutor().GetExecutorId().GetValue()})
		}
	} else {
		ids = append(ids, struct{ what, id string }{"executor ID", l.GetExecutor().GetExecutorId().GetValue()})
		for _, gt := range l.GetTaskGroup().GetTasks() {
			ids = append(ids, struct{ what, id string }{"task ID", gt.GetTaskId().GetValue()})
		}
	}
	for _, x := range ids {
		if err := resources.ValidatePathName(x.what, x.id); err != nil {
			return err.Error()
		}
	}
	return ""
}

// startTask prepares t's sandbox and starts its process: STARTING, then
// RUNNING once the process exists, or FAILED if it cannot be started.
// Making the sandbox, fetching and creating the container happen off the
// loop: a launch of hundreds of tasks would otherwise hold every other
// event (acknowledgements, kills) behind its file system work.
func (a *Agent) startTask(t *taskRun, makeSandbox func() error) {
	a.startTaskWith(t, launchHooks{prepare: func(*containerizer.Spec) error { return makeSandbox() }})
}

// launchHooks let a caller take part in a launch, off the loop: prepare
// runs before the container is made (the sandbox; what to join), started
// right after (with the process or the error).
type launchHooks struct {
	prepare func(*containerizer.Spec) error
	started func(*containerizer.Process, error)
}

func (a *Agent) startTaskWith(t *taskRun, hooks launchHooks) {
	ti := t.info
	if err := a.update(t, mesospb.TaskState_TASK_STARTING, nil, ""); err != nil {
		// Without its checkpoint nothing would know the container after an
		// agent restart: it would run on, unknown to everyone, while its
		// framework replaced it.
		if hooks.started != nil {
			hooks.started(nil, err)
		}
		a.failLaunch(t, fmt.Errorf("could not checkpoint the task, so it was not started: %w", err))
		return
	}
	spec := a.spec(t)
	spec.ExitFile = exitFile(t.sandbox)
	t.launching = true
	uris := ti.GetCommand().GetUris()
	go func() {
		fail := func(err error) {
			if hooks.started != nil {
				hooks.started(nil, err)
			}
			a.post(func() { a.launched(t, nil, err) })
		}
		if err := hooks.prepare(&spec); err != nil {
			fail(err)
			return
		}
		if a.cfg.Isolation != "linux" { // containers get their volumes mounted
			if err := a.linkVolumes(t.sandbox, ti); err != nil {
				fail(err)
				return
			}
		}
		mounts, err := a.containerVolumes(t)
		if err != nil {
			fail(err)
			return
		}
		spec.Mounts = append(spec.Mounts, mounts...)
		if len(uris) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			err := a.fetcher.Fetch(ctx, uris, spec.Dir, spec.User)
			cancel()
			if err != nil {
				fail(err)
				return
			}
		}
		proc, err := a.launcher.Launch(spec)
		if hooks.started != nil {
			hooks.started(proc, err)
		}
		a.post(func() { a.launched(t, proc, err) })
	}()
}

// fetchTimeout bounds fetching a task's URIs.
const fetchTimeout = 10 * time.Minute

// launched finishes a launch on the loop once the process exists (or
// could not be started).
func (a *Agent) launched(t *taskRun, proc *containerizer.Process, err error) {
	t.launching = false
	if err != nil {
		a.failLaunch(t, err)
		return
	}
	ti := t.info
	t.proc = proc
	t.startTime, _ = containerizer.StartTime(proc.Pid)
	if t.killed {
		// A kill (or a shutdown) came while the container was being made.
		t.killed = false
		a.update(t, mesospb.TaskState_TASK_RUNNING, nil, "")
		a.killTask(t, nil)
	} else {
		a.update(t, mesospb.TaskState_TASK_RUNNING, nil, "")
	}
	if ti.GetHealthCheck() != nil {
		ctx, cancel := context.WithCancel(context.Background())
		t.stopChecks = cancel
		a.startHealthCheck(ctx, t)
	}
	if mct := ti.GetMaxCompletionTime(); mct != nil {
		d := time.Duration(mct.GetNanoseconds())
		t.timeout = time.AfterFunc(d, func() {
			a.post(func() {
				if t.exited || t.killed {
					return
				}
				reason := mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED
				t.limit = &reason
				a.log.Info("task ran past its max_completion_time", "task", t.key.TaskID, "limit", d)
				a.killTask(t, &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(0)}})
			})
		})
	}
	go func() {
		<-proc.Done()
		a.post(func() { a.exited(t) })
	}()
}

func makeSandbox(runs, containerID string) error {
	if err := os.MkdirAll(filepath.Join(runs, containerID), 0o755); err != nil {
		return fmt.Errorf("creating the sandbox: %w", err)
	}
	latest := filepath.Join(runs, "latest")
	tmp := latest + "." + containerID
	if err := os.Symlink(containerID, tmp); err != nil {
		return fmt.Errorf("linking the sandbox: %w", err)
	}
	if err := os.Rename(tmp, latest); err != nil {
		return fmt.Errorf("linking the sandbox: %w", err)
	}
	return nil
}

func (a *Agent) failLaunch(t *taskRun, err error) {
	a.metrics.launchFailures.Inc()
	a.log.Info("task launch failed", "task", t.key.TaskID, "err", err)
	reason := mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED
	t.exited = true
	a.update(t, mesospb.TaskState_TASK_FAILED, &reason, err.Error())
	a.groupTaskEnded(t, mesospb.TaskState_TASK_FAILED)
}

// rejectLaunch answers a launch this agent cannot carry out.
func (a *Agent) rejectLaunch(fw *mesospb.FrameworkInfo, ti *mesospb.TaskInfo, msg string) {
	t := &taskRun{key: keyOf(fw.GetId(), ti.GetTaskId()), framework: fw, info: ti, exited: true}
	a.tasks[t.key] = t
	a.metrics.launchFailures.Inc()
	reason := mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED
	a.update(t, mesospb.TaskState_TASK_FAILED, &reason, msg)
}

// spec turns the task's CommandInfo into what the launcher runs.
func (a *Agent) spec(t *taskRun) containerizer.Spec {
	cmd := t.info.GetCommand()
	res := resources.Resources(t.info.GetResources())
	env := []string{
		"PATH=" + envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		"MESOS_SANDBOX=" + t.sandbox,
		"MESOS_DIRECTORY=" + t.sandbox,
		"MESOS_TASK_ID=" + t.key.TaskID,
		"MESOS_FRAMEWORK_ID=" + t.key.FrameworkID,
		"MESOS_AGENT_ID=" + a.ID(),
		"MESOS_EXECUTOR_ID=" + t.key.TaskID,
		"MESOS_CONTAINER_ID=" + t.containerID,
		"CORRAL_TASK_ID=" + t.key.TaskID,
		"CORRAL_FRAMEWORK_ID=" + t.key.FrameworkID,
		"CORRAL_AGENT_ID=" + a.ID(),
		"CORRAL_SANDBOX=" + t.sandbox,
		"CORRAL_CPUS=" + formatFloat(res.ScalarValue("cpus")),
		"CORRAL_MEM=" + formatFloat(res.ScalarValue("mem")),
		"HOME=" + t.sandbox,
	}
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() == mesospb.Environment_Variable_SECRET {
			continue // secrets need a resolver, which this agent has not
		}
		env = append(env, v.GetName()+"="+v.GetValue())
	}
	user := cmd.GetUser()
	if user == "" {
		user = t.framework.GetUser()
	}
	hostname := t.info.GetContainer().GetHostname()
	if hostname == "" {
		hostname = a.info.GetHostname()
	}
	spec := containerizer.Spec{
		Shell: cmd.Shell == nil || cmd.GetShell(),
		Value: cmd.GetValue(),
		Args:  cmd.GetArguments(),
		Env:   env,
		Dir:   t.sandbox,
		User:  user,

		ID:       t.containerID,
		CPUs:     res.ScalarValue("cpus"),
		MemBytes: int64(res.ScalarValue("mem") * (1 << 20)),
		Hostname: hostname,
	}
	for _, v := range t.info.GetResources() {
		if resources.IsVolume(v) {
			spec.Mounts = append(spec.Mounts, containerizer.Mount{
				Source: a.volumePath(v), Destination: filepath.Join(t.sandbox, v.GetDisk().GetVolume().GetContainerPath()),
				ReadOnly: v.GetDisk().GetVolume().GetMode() == mesospb.Volume_RO,
			})
		}
	}
	return spec
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func formatFloat(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// exited runs when a task's process has ended.
func (a *Agent) exited(t *taskRun) {
	t.exited = true
	if t.timeout != nil {
		t.timeout.Stop()
	}
	if t.stopChecks != nil {
		t.stopChecks()
	}
	a.reportExit(t, t.proc.Exit())
}

// reportExit sends the terminal update for how t's process ended.
func (a *Agent) reportExit(t *taskRun, exit containerizer.Exit) {
	t.exited = true
	defer func() { a.groupTaskEnded(t, t.state) }()
	switch {
	case t.healthKill != "":
		a.update(t, mesospb.TaskState_TASK_KILLED, nil, t.healthKill+" ("+exit.String()+")")
	case exit.Limitation == "memory":
		reason := mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY
		t.limitation = &mesospb.TaskResourceLimitation{Resources: resources.Resources(t.info.GetResources()).Filter(
			func(r *mesospb.Resource) bool { return r.GetName() == "mem" })}
		a.update(t, mesospb.TaskState_TASK_FAILED, &reason, exit.String())
	case t.limit != nil && t.limitMessage != "":
		a.update(t, mesospb.TaskState_TASK_FAILED, t.limit, t.limitMessage)
	case t.limit != nil:
		a.update(t, mesospb.TaskState_TASK_FAILED, t.limit, "Task ran past its max_completion_time: "+exit.String())
	case t.killed:
		a.update(t, mesospb.TaskState_TASK_KILLED, nil, exit.String())
	case exit.Err == nil && exit.Signal == 0 && exit.Code == 0:
		a.update(t, mesospb.TaskState_TASK_FINISHED, nil, exit.String())
	default:
		a.update(t, mesospb.TaskState_TASK_FAILED, nil, exit.String())
	}
}

// kill handles the master's KILL.
func (a *Agent) kill(k statusupdate.Key, policy *mesospb.KillPolicy) {
	t := a.tasks[k]
	if t == nil {
		// The agent never heard of it (the launch was lost): say so.
		t = &taskRun{
			key:       k,
			framework: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String(k.FrameworkID)}},
			info:      &mesospb.TaskInfo{TaskId: &mesospb.TaskID{Value: proto.String(k.TaskID)}},
			exited:    true,
		}
		a.tasks[k] = t
		reason := mesospb.TaskStatus_REASON_TASK_UNKNOWN
		a.update(t, mesospb.TaskState_TASK_LOST, &reason, "Task is unknown to the agent")
		return
	}
	a.killTask(t, policy)
	if g := t.group; g != nil { // killing a task of a group kills the group
		g.ending = true
		for _, other := range g.tasks {
			a.killTask(other, policy)
		}
	}
}

// killTask stops a running task: SIGTERM, then SIGKILL after the grace
// period. The exit is reported as TASK_KILLED.
func (a *Agent) killTask(t *taskRun, policy *mesospb.KillPolicy) {
	if e := t.exec; e != nil { // its executor kills it, or nobody has it yet
		if t.exited || t.killed {
			return
		}
		t.killed = true
		if e.events == nil {
			a.failExecutorTask(t, mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH, "Killed before its executor subscribed")
			return
		}
		a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_KILL.Enum(), Kill: &executorpb.Event_Kill{TaskId: t.info.GetTaskId(), KillPolicy: policy}})
		return
	}
	if t.launching && !t.killed {
		t.killed = true // carried out when the launch completes
		return
	}
	if t.exited || t.proc == nil || t.killed {
		return
	}
	t.killed = true
	grace := a.cfg.ExecutorShutdownGrace
	if policy == nil {
		policy = t.info.GetKillPolicy()
	}
	if p := policy.GetGracePeriod(); p != nil {
		grace = max(time.Duration(p.GetNanoseconds()), 0)
	}
	proc := t.proc
	go func() {
		if err := proc.Kill(context.Background(), grace); err != nil {
			a.log.Warn("killing a task", "task", t.key.TaskID, "err", err)
		}
	}()
}

// acknowledge handles the master's forwarding of a framework's ack.
func (a *Agent) acknowledge(k statusupdate.Key, id []byte) {
	matched, terminal := a.updates.Ack(k, id)
	if !matched {
		a.log.Debug("acknowledgement does not match the pending update", "task", k.TaskID)
		return
	}
	if t := a.tasks[k]; t != nil && t.exec != nil {
		a.toExecutor(t.exec, &executorpb.Event{Type: executorpb.Event_ACKNOWLEDGED.Enum(),
			Acknowledged: &executorpb.Event_Acknowledged{TaskId: t.info.GetTaskId(), Uuid: id}})
	}
	if terminal {
		delete(a.tasks, k) // the sandbox stays for inspection, until GC
		a.dropCheckpoint(k)
	} else if t := a.tasks[k]; t != nil {
		// Until it is written, a crash would only resend the acknowledged
		// update: at-least-once either way.
		a.checkpointLater(t)
	}
	a.flushUpdates()
}

// update records a new state for t and queues its status update. It
// returns the error of checkpointing it (already logged), which only a
// launch acts on.
func (a *Agent) update(t *taskRun, state mesospb.TaskState, reason *mesospb.TaskStatus_Reason, msg string) error {
	t.state = state
	st := &mesospb.TaskStatus{
		TaskId:     t.info.GetTaskId(),
		State:      state.Enum(),
		Source:     mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
		AgentId:    &mesospb.AgentID{Value: proto.String(a.ID())},
		ExecutorId: &mesospb.ExecutorID{Value: proto.String(t.executorID())},
		Timestamp:  proto.Float64(float64(time.Now().UnixNano()) / 1e9),
		Uuid:       uuid.New().Bytes(),
	}
	if reason != nil {
		st.Reason = reason.Enum()
	}
	if t.health != nil {
		st.Healthy = proto.Bool(*t.health)
	}
	if t.limitation != nil && mesospb.IsTerminal(state) {
		st.Limitation = t.limitation
	}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	if t.proc != nil {
		st.ContainerStatus = &mesospb.ContainerStatus{
			ContainerId: &mesospb.ContainerID{Value: proto.String(t.containerID)},
			ExecutorPid: proto.Uint32(uint32(t.proc.Pid)),
		}
	}
	t.last = st
	first := a.updates.Add(t.key, st)
	err := a.checkpoint(t)
	if first {
		a.flushUpdates()
	}
	return err
}

// flushUpdates sends every update that is due and arms the retry timer.
func (a *Agent) flushUpdates() {
	s := a.session
	if s == nil {
		return // everything is re-sent on the next subscription
	}
	now := time.Now()
	for _, u := range a.updates.Due(now) {
		a.send(s, &agentpb.Call{
			Type: agentpb.Call_UPDATE.Enum(),
			Update: &agentpb.Call_Update{
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(u.Key.FrameworkID)},
				Status:      u.Status,
				LatestState: u.LatestState.Enum(),
			},
		}, nil)
	}
	next, ok := a.updates.NextDue()
	if !ok {
		return
	}
	if a.retryTimer != nil {
		a.retryTimer.Stop()
	}
	a.retryTimer = time.AfterFunc(max(time.Until(next), 0), func() { a.post(a.flushUpdates) })
}
