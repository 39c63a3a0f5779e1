package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

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
		t.life = lifecycle.ForExecutor()
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
	spec, specErr := a.spec(t)
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
	if specErr != nil {
		if hooks.started != nil {
			hooks.started(nil, specErr)
		}
		a.failLaunch(t, specErr)
		return
	}
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
		if err := makeVolumes(spec.Volumes); err != nil {
			fail(err)
			return
		}
		if len(uris) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			err := a.fetcher.Fetch(ctx, uris, spec.Sandbox, spec.User)
			cancel()
			if err != nil {
				fail(err)
				return
			}
		}
		spec.Report = a.launchProgress(t)
		proc, err := a.containers.Launch(context.Background(), spec)
		if hooks.started != nil {
			hooks.started(proc, err)
		}
		a.post(func() { a.launched(t, proc, err) })
	}()
}

// fetchTimeout bounds fetching a task's URIs.
const fetchTimeout = 10 * time.Minute

// launched finishes a launch on the loop once the container runs (or
// could not be made).
func (a *Agent) launched(t *taskRun, proc *containerizer.Process, err error) {
	if proc != nil {
		t.proc = proc
		t.startTime, _ = containerizer.StartTime(proc.Pid)
	}
	eff, lerr := t.life.Launched(err)
	if lerr != nil {
		a.log.Error("a launch finished in a phase it cannot", "task", t.key.TaskID, "err", lerr)
		return
	}
	if err != nil {
		a.metrics.launchFailures.Inc()
		a.log.Info("task launch failed", "task", t.key.TaskID, "err", err)
	}
	a.apply(t, eff)
	if proc == nil {
		return
	}
	if t.life.Ended() {
		// It ended while it was being made (its executor or group went):
		// nothing may run that nobody tracks.
		_ = proc.Signal(syscall.SIGKILL)
	}
	go func() {
		<-proc.Done()
		a.post(func() { a.exited(t) })
	}()
	if t.life.Phase() != lifecycle.Running {
		return // being killed already: no checks, no deadline
	}
	ti := t.info
	if ti.GetHealthCheck() != nil {
		ctx, cancel := context.WithCancel(context.Background())
		t.health.stop = cancel
		a.startHealthCheck(ctx, t)
	}
	if mct := ti.GetMaxCompletionTime(); mct != nil {
		d := time.Duration(mct.GetNanoseconds())
		t.timeout = time.AfterFunc(d, func() {
			a.post(func() {
				a.log.Info("task ran past its max_completion_time", "task", t.key.TaskID, "limit", d)
				a.killTask(t, lifecycle.Overtime, "", &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(0)}})
			})
		})
	}
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

// failLaunch ends a launch that did not get as far as a container.
func (a *Agent) failLaunch(t *taskRun, err error) { a.launched(t, nil, err) }

// rejectLaunch answers a launch this agent cannot carry out.
func (a *Agent) rejectLaunch(fw *mesospb.FrameworkInfo, ti *mesospb.TaskInfo, msg string) {
	t := &taskRun{key: keyOf(fw.GetId(), ti.GetTaskId()), framework: fw, info: ti}
	a.tasks[t.key] = t
	a.metrics.launchFailures.Inc()
	a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_FAILED,
		Reason: mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED.Enum(), Message: msg}))
}

// spec turns the task into the container the containerizer makes: its
// command, environment, user, limits and volumes.
func (a *Agent) spec(t *taskRun) (containerizer.Spec, error) {
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
	if hasImage(t.info.GetContainer()) {
		env = imageEnv(env, t.sandbox)
	}
	user := cmd.GetUser()
	if user == "" {
		user = t.framework.GetUser()
	}
	vols, err := a.volumes(t.info)
	if err != nil {
		return containerizer.Spec{}, err
	}
	return containerizer.Spec{
		ID:      t.containerID,
		Sandbox: t.sandbox,
		User:    user,
		Shell:   viaShell(cmd),
		Value:   cmd.GetValue(),
		Args:    cmd.GetArguments(),
		Env:     env,
		Limits:  limitsOf(res),
		Volumes: vols,
		Info:    t.info.GetContainer(),
		// The wrapper records the exit status in the sandbox, where a
		// restarted agent finds it.
		ExitFile:    exitFile(t.sandbox),
		CommandUser: cmd.GetUser(),
		TTY:         ttyOf(t.info.GetContainer()),
	}, nil
}

// viaShell reports whether a command runs as `sh -c` its value: unless it
// says otherwise (shell defaults to true), and never when there is no
// command at all. A task of a group may have none (its image's entrypoint
// runs then), so the CommandInfo is nil, not empty.
func viaShell(cmd *mesospb.CommandInfo) bool { return cmd != nil && cmd.GetShell() }

// limitsOf are the container limits of resources: cpus, mem and the disk
// that is not a persistent volume.
func limitsOf(res resources.Resources) isolators.Limits {
	var disk float64
	for _, r := range res {
		if r.GetName() == "disk" && !resources.IsVolume(r) {
			disk += r.GetScalar().GetValue()
		}
	}
	return isolators.Limits{CPUs: res.ScalarValue("cpus"), MemBytes: int64(res.ScalarValue("mem") * (1 << 20)),
		DiskBytes: int64(disk * (1 << 20))}
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
