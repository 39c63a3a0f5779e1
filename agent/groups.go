package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A task group runs under the DEFAULT executor, which the agent plays
// itself: the group shares one executor sandbox, each task works in its
// own directory under tasks/, and the group lives and dies together, as in
// Mesos: a task that fails or is killed takes the others with it.

// taskGroupRun ties a group's tasks together.
type taskGroupRun struct {
	executorID string
	tasks      []*taskRun
	ending     bool
}

func (a *Agent) launchGroup(l *agentpb.Event_Launch) {
	ex := l.GetExecutor()
	fw := l.GetFrameworkInfo()
	for _, ti := range l.GetTaskGroup().GetTasks() {
		if t := a.tasks[keyOf(fw.GetId(), ti.GetTaskId())]; t != nil && !mesospb.IsTerminal(t.state) {
			a.log.Warn("ignoring a task group relaunching a running task", "task", ti.GetTaskId().GetValue())
			return
		}
	}
	execID := ex.GetExecutorId().GetValue()
	containerID := uuid.New().String()
	runs := filepath.Join(a.cfg.WorkDir, "agents", a.ID(), "frameworks", fw.GetId().GetValue(), "executors", execID, "runs")
	execSandbox := filepath.Join(runs, containerID)
	g := &taskGroupRun{executorID: execID}
	for _, ti := range l.GetTaskGroup().GetTasks() {
		t := &taskRun{key: keyOf(fw.GetId(), ti.GetTaskId()), framework: fw, info: ti, containerID: uuid.New().String(),
			sandbox: filepath.Join(execSandbox, "tasks", ti.GetTaskId().GetValue()), group: g}
		g.tasks = append(g.tasks, t)
		a.tasks[t.key] = t
		a.metrics.launches.Inc()
	}
	// The group's tasks are made in parallel, each in its own directory of
	// the executor's sandbox, which must exist first. They share one
	// network namespace, as a pod does: the group's own when its executor
	// names CNI networks (made before the first task, gone after the
	// last); else, with isolated networking, the first task's, which the
	// others join once it exists.
	var once sync.Once
	var sandboxErr error
	share := a.containers.OwnNetwork()
	network := newGroupNetwork(a, containerID, ex.GetContainer(), len(g.tasks))
	first := make(chan struct{})
	var netns string // written before first is closed
	for i, t := range g.tasks {
		hooks := launchHooks{prepare: func(spec *containerizer.Spec) error {
			once.Do(func() { sandboxErr = makeSandbox(runs, containerID) })
			if sandboxErr != nil {
				return fmt.Errorf("creating the executor's sandbox: %w", sandboxErr)
			}
			if err := os.MkdirAll(t.sandbox, 0o755); err != nil {
				return err
			}
			groupNS, err := network.prepare()
			if err != nil {
				return fmt.Errorf("the group's network: %w", err)
			}
			if groupNS != "" {
				spec.NetNS = groupNS
				return nil
			}
			if share && i > 0 {
				select {
				case <-first:
				case <-time.After(groupNetNSTimeout):
					return fmt.Errorf("the group's first task did not start within %v; there is no network namespace to share", groupNetNSTimeout)
				}
				if netns == "" {
					return fmt.Errorf("the group's first task did not start; there is no network namespace to share")
				}
				spec.NetNS = netns
			}
			return nil
		}}
		var closeOnce sync.Once
		hooks.started = func(p *containerizer.Process, err error) {
			if share && i == 0 {
				closeOnce.Do(func() {
					if err == nil && p != nil {
						netns = fmt.Sprintf("/proc/%d/ns/net", p.Pid)
					}
					close(first)
				})
			}
			network.started(p, err)
		}
		a.startTaskWith(t, hooks)
	}
}

// groupNetNSTimeout bounds how long a group's tasks wait for the first
// one's network namespace.
const groupNetNSTimeout = 2 * time.Minute

// groupTaskEnded applies the group's fate to the others when one of its
// tasks ends other than by finishing.
func (a *Agent) groupTaskEnded(t *taskRun, state mesospb.TaskState) {
	g := t.group
	if g == nil || g.ending || state == mesospb.TaskState_TASK_FINISHED {
		return
	}
	g.ending = true
	for _, other := range g.tasks {
		if other != t && !other.life.Ended() {
			a.log.Info("killing a task of a failed group", "task", other.key.TaskID, "because", t.key.TaskID, "state", state.String())
			a.killTask(other, lifecycle.Killed, "", nil)
		}
	}
}
