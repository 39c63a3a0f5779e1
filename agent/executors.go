package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Custom executors: a task whose TaskInfo names an executor runs inside
// that executor, a program of the framework's that the agent starts (once
// per executor ID) in a sandbox of its own and that speaks the Mesos v1
// executor HTTP API at /api/v1/executor: it subscribes, receives LAUNCH,
// KILL, ACKNOWLEDGED, MESSAGE and SHUTDOWN, and sends the tasks' status
// updates, which the agent then delivers reliably like its own.

type execKey struct{ framework, executor string }

type executorRun struct {
	key execKey
	// pidHint and startTime are the process a checkpoint names, for
	// recovery.
	pidHint     int
	startTime   uint64
	info        *mesospb.ExecutorInfo
	framework   *mesospb.FrameworkInfo
	containerID string
	sandbox     string
	proc        *containerizer.Process
	events      chan *executorpb.Event // the subscription's stream; nil until subscribed
	queued      []*taskRun             // launched before the executor subscribed
	tasks       map[string]*taskRun
	timer       *time.Timer
	gone        bool
}

// launchWithExecutor runs t under its executor, starting the executor if
// it is not running yet.
func (a *Agent) launchWithExecutor(t *taskRun) {
	ex := t.info.GetExecutor()
	k := execKey{t.key.FrameworkID, ex.GetExecutorId().GetValue()}
	e := a.executors[k]
	if e == nil || e.gone {
		e = &executorRun{key: k, info: ex, framework: t.framework, containerID: uuid.New().String(), tasks: map[string]*taskRun{}}
		runs := filepath.Join(a.cfg.WorkDir, "agents", a.ID(), "frameworks", k.framework, "executors", k.executor, "runs")
		e.sandbox = filepath.Join(runs, e.containerID)
		a.executors[k] = e
		if err := makeSandbox(runs, e.containerID); err != nil {
			a.failExecutorTask(t, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED, err.Error())
			delete(a.executors, k)
			return
		}
		a.startExecutor(e)
	}
	t.exec, t.sandbox = e, e.sandbox
	e.tasks[t.key.TaskID] = t
	a.resizeExecutor(e)
	a.update(t, mesospb.TaskState_TASK_STAGING, nil, "")
	if e.events == nil {
		e.queued = append(e.queued, t)
		return
	}
	a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_LAUNCH.Enum(), Launch: &executorpb.Event_Launch{Task: t.info}})
	_ = t.life.Delivered() // a new task is launching: it cannot be impossible
}

// limits are the executor's container's: its own resources and those of
// its live tasks, which run inside it (Mesos sizes an executor's
// container so, and updates it as tasks come and go), so that an executor
// doing real work is not OOM-killed at the executor's own size.
func (e *executorRun) limits() isolators.Limits {
	res := resourcesOf(e.info.GetResources())
	for _, t := range e.tasks {
		if !t.life.Ended() {
			res = res.Add(resourcesOf(t.info.GetResources()))
		}
	}
	return limitsOf(res)
}

// resizeExecutor applies e's limits to its running container.
func (a *Agent) resizeExecutor(e *executorRun) {
	if e.proc == nil || e.gone {
		return
	}
	if err := e.proc.Update(context.Background(), e.limits()); err != nil {
		a.log.Warn("could not resize an executor's container", "executor", e.key.executor, "err", err)
	}
}

// executorSpec is the container an executor runs in. Executors of
// checkpointing frameworks are told so (MESOS_CHECKPOINT=1): they outlive
// an agent restart and subscribe again to the new agent process.
func (a *Agent) executorSpec(e *executorRun) containerizer.Spec {
	cmd := e.info.GetCommand()
	checkpoint := "0"
	if e.framework.GetCheckpoint() {
		checkpoint = "1"
	}
	spec := containerizer.Spec{
		Shell: viaShell(cmd), Value: cmd.GetValue(), Args: cmd.GetArguments(), Sandbox: e.sandbox,
		User: e.framework.GetUser(), ID: e.containerID, Info: e.info.GetContainer(),
		Env: append(a.baseEnv(e.sandbox), "MESOS_AGENT_ENDPOINT="+a.cfg.Addr, "MESOS_FRAMEWORK_ID="+e.key.framework,
			"MESOS_EXECUTOR_ID="+e.key.executor, "MESOS_CONTAINER_ID="+e.containerID, "MESOS_CHECKPOINT="+checkpoint, "MESOS_HTTP_COMMAND_EXECUTOR=0",
			"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="+mesosDuration(a.cfg.ExecutorShutdownGrace),
			"MESOS_RECOVERY_TIMEOUT="+mesosDuration(executorRecoveryTimeout),
			"MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs"),
	}
	if token := a.executorToken(e); token != "" {
		spec.Env = append(spec.Env, executorTokenEnv+"="+token)
	}
	if a.cfg.ExecutorTLSCA != "" {
		// The agent serves TLS: executors verify it with this CA (the
		// variables Mesos' libprocess reads).
		spec.Env = append(spec.Env, "LIBPROCESS_SSL_ENABLED=true", "LIBPROCESS_SSL_CA_FILE="+a.cfg.ExecutorTLSCA)
	}
	if cmd.GetUser() != "" {
		spec.User = cmd.GetUser()
	}
	for _, v := range cmd.GetEnvironment().GetVariables() {
		spec.Env = append(spec.Env, v.GetName()+"="+v.GetValue())
	}
	spec.Limits = e.limits()
	spec.CommandUser = cmd.GetUser()
	if hasImage(spec.Info) {
		spec.Env = imageEnv(spec.Env, e.sandbox)
	}
	return spec
}

// executorRecoveryTimeout is how long executors of checkpointing
// frameworks wait for a restarted agent (Mesos' default).
const executorRecoveryTimeout = 15 * time.Minute

func (a *Agent) startExecutor(e *executorRun) {
	spec := a.executorSpec(e)
	e.timer = time.AfterFunc(a.cfg.ExecutorRegistrationTimeout, func() {
		a.post(func() {
			if e.events == nil && !e.gone {
				a.log.Warn("executor did not subscribe in time", "executor", e.key.executor, "timeout", a.cfg.ExecutorRegistrationTimeout)
				a.executorEnded(e, mesospb.TaskStatus_REASON_EXECUTOR_REGISTRATION_TIMEOUT,
					fmt.Sprintf("The executor did not subscribe within %v", a.cfg.ExecutorRegistrationTimeout))
			}
		})
	})
	uris := e.info.GetCommand().GetUris()
	go func() {
		if len(uris) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			err := a.fetcher.Fetch(ctx, uris, e.sandbox, spec.User)
			cancel()
			if err != nil {
				a.post(func() { a.executorEnded(e, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED, err.Error()) })
				return
			}
		}
		proc, err := a.containers.Launch(context.Background(), spec)
		a.post(func() {
			if err != nil {
				a.executorEnded(e, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED, err.Error())
				return
			}
			e.proc = proc
			if e.gone {
				_ = proc.Signal(9)
				return
			}
			if err := a.checkpointExecutor(e); err != nil {
				// Its framework expects it to outlive an agent restart,
				// which nothing would know it for.
				a.executorEnded(e, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED,
					"Could not checkpoint the executor, so it was stopped: "+err.Error())
				return
			}
			a.resizeExecutor(e) // tasks queued while it started
			a.watchExecutor(e)
		})
	}()
}

// watchExecutor ends the executor's run when its process exits.
func (a *Agent) watchExecutor(e *executorRun) {
	proc := e.proc
	go func() {
		<-proc.Done()
		a.post(func() {
			a.executorEnded(e, mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED, "Executor terminated: "+proc.Exit().String())
		})
	}()
}

// executorEnded fails the executor's unfinished tasks and forgets it.
func (a *Agent) executorEnded(e *executorRun, reason mesospb.TaskStatus_Reason, msg string) {
	if e.gone {
		return
	}
	e.gone = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.events != nil {
		close(e.events)
		e.events = nil
	}
	if e.proc != nil {
		_ = e.proc.Signal(9)
	}
	for _, t := range e.tasks {
		if !mesospb.IsTerminal(t.state) {
			a.failExecutorTask(t, reason, msg)
		}
	}
	if a.executors[e.key] == e {
		delete(a.executors, e.key)
		a.dropExecutorCheckpoint(e.key)
	}
	// The master holds the executor's resources until it hears this (or
	// sees the executor missing from a later subscription).
	if s := a.session; s != nil {
		a.send(s, &agentpb.Call{
			Type: agentpb.Call_EXECUTOR_EXITED.Enum(),
			ExecutorExited: &agentpb.Call_ExecutorExited{
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(e.key.framework)},
				ExecutorId:  &mesospb.ExecutorID{Value: proto.String(e.key.executor)},
			},
		}, nil)
	}
}

// failExecutorTask ends a task whose executor could not run it (or went
// away): TASK_FAILED, or TASK_KILLED if it was being killed.
func (a *Agent) failExecutorTask(t *taskRun, reason mesospb.TaskStatus_Reason, msg string) {
	a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_FAILED, Reason: reason.Enum(), Message: msg}))
}

// shutdownExecutors tells a framework's executors to shut down and kills
// them after the grace period.
func (a *Agent) shutdownExecutors(framework string) {
	for k, e := range a.executors {
		if k.framework == framework && !e.gone {
			a.stopExecutor(e, "Executor shut down with its framework")
		}
	}
}

// stopExecutor tells a custom executor to shut down (it kills its tasks
// and exits) and kills it after the grace period; its tasks still running
// then end with msg.
func (a *Agent) stopExecutor(e *executorRun, msg string) {
	for _, t := range e.tasks {
		a.killTask(t, lifecycle.Killed, "", nil)
	}
	a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
	time.AfterFunc(a.cfg.ExecutorShutdownGrace, func() {
		a.post(func() { a.executorEnded(e, mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED, msg) })
	})
}

// shutdownExecutor handles a framework's SHUTDOWN of one of its executors,
// as Mesos does: a custom executor is told to shut down and killed after
// the grace period; the command executor (named after its task) and the
// DEFAULT executor of a task group, which the agent plays itself, stop
// by killing their tasks.
func (a *Agent) shutdownExecutor(framework, executor string) {
	if e := a.executors[execKey{framework, executor}]; e != nil && !e.gone {
		a.log.Info("shutting an executor down for its framework", "framework", framework, "executor", executor)
		a.stopExecutor(e, "Executor shut down by its framework")
		return
	}
	found := false
	for k, t := range a.tasks {
		if k.FrameworkID != framework || t.exec != nil || t.executorID() != executor {
			continue
		}
		found = true
		if t.group != nil {
			t.group.ending = true
		}
		a.killTask(t, lifecycle.Killed, "", nil)
	}
	if found {
		a.log.Info("shutting an executor down for its framework", "framework", framework, "executor", executor)
	} else {
		a.log.Info("SHUTDOWN of an executor this agent does not run", "framework", framework, "executor", executor)
	}
}

// baseEnv is what every process the agent starts finds in its environment.
func (a *Agent) baseEnv(sandbox string) []string {
	return []string{
		"PATH=" + envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		"MESOS_SANDBOX=" + sandbox, "MESOS_DIRECTORY=" + sandbox, "HOME=" + sandbox,
		"MESOS_AGENT_ID=" + a.ID(),
	}
}

func resourcesOf(r []*mesospb.Resource) resources.Resources { return resources.Resources(r) }

// mesosDuration writes d the way Mesos writes durations in executors'
// environments ("2.5secs"), which executor libraries parse.
func mesosDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "secs"
}
