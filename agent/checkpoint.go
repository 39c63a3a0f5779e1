package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/mesospb"
)

// The agent checkpoints each task under meta/tasks: what it is, where its
// process is, and its unacknowledged status updates. A restarted agent
// (after kill -9 or an upgrade) re-attaches to the tasks still running,
// reports those that ended meanwhile from the exit status they left in
// their sandbox, re-sends what was never acknowledged, and re-registers
// with all of them. Checkpoints are replaced atomically; they are not
// synced to disk on every update, so a machine crash may lose the last
// updates, but then the tasks are gone too and are reported lost.

type taskCheckpoint struct {
	Framework   []byte   `json:"framework"` // FrameworkInfo
	Task        []byte   `json:"task"`      // TaskInfo
	ContainerID string   `json:"container_id"`
	Sandbox     string   `json:"sandbox"`
	Pid         int      `json:"pid,omitempty"`
	StartTime   uint64   `json:"start_time,omitempty"`
	State       int32    `json:"state"`
	Exited      bool     `json:"exited,omitempty"`
	Killed      bool     `json:"killed,omitempty"`
	Pending     [][]byte `json:"pending,omitempty"` // TaskStatus, oldest first
}

func exitFile(sandbox string) string { return filepath.Join(sandbox, ".corral_exit_status") }

func (a *Agent) checkpointPath(k statusupdate.Key) string {
	return filepath.Join(a.cfg.WorkDir, "meta", "tasks", url.PathEscape(k.FrameworkID), url.PathEscape(k.TaskID)+".json")
}

// checkpoint writes t's checkpoint. Failures are logged and returned: a
// launch whose first checkpoint fails does not start (nothing would find
// its container after a restart); later failures only cost the latest
// state, which recovery finds again from the container itself.
func (a *Agent) checkpoint(t *taskRun) error {
	delete(a.lazyCheckpoints, t.key)
	if err := a.writeCheckpoint(t); err != nil {
		a.log.Error("could not checkpoint a task", "task", t.key.TaskID, "err", err)
		return err
	}
	return nil
}

func (a *Agent) writeCheckpoint(t *taskRun) error {
	if t.cpTask == nil {
		fw, err := proto.Marshal(t.framework)
		if err != nil {
			return err
		}
		ti, err := proto.Marshal(t.info)
		if err != nil {
			return err
		}
		t.cpFramework, t.cpTask = fw, ti
	}
	cp := taskCheckpoint{Framework: t.cpFramework, Task: t.cpTask, ContainerID: t.containerID, Sandbox: t.sandbox,
		StartTime: t.startTime, State: int32(t.state), Exited: t.exited, Killed: t.killed}
	if t.proc != nil {
		cp.Pid = t.proc.Pid
	}
	for _, st := range a.updates.Queued(t.key) {
		b, err := proto.Marshal(st)
		if err != nil {
			return err
		}
		cp.Pending = append(cp.Pending, b)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	path := a.checkpointPath(t.key)
	if dir := filepath.Dir(path); !a.checkpointDirs[dir] {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		a.checkpointDirs[dir] = true
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// checkpointLater marks t's checkpoint stale in a way that can wait for
// the loop to be idle.
func (a *Agent) checkpointLater(t *taskRun) { a.lazyCheckpoints[t.key] = true }

func (a *Agent) flushLazyCheckpoints() {
	for k := range a.lazyCheckpoints {
		if t := a.tasks[k]; t != nil {
			_ = a.checkpoint(t) // logged; the task goes on
		}
		delete(a.lazyCheckpoints, k)
	}
}

func (a *Agent) dropCheckpoint(k statusupdate.Key) {
	delete(a.lazyCheckpoints, k)
	if err := os.Remove(a.checkpointPath(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("could not remove a task's checkpoint", "task", k.TaskID, "err", err)
	}
}

// bootID identifies this boot of the machine: tasks checkpointed in
// another boot are gone.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// recoverTasks runs on the loop before the first subscription.
func (a *Agent) recoverTasks() {
	metaBoot := filepath.Join(a.cfg.WorkDir, "meta", "boot_id")
	saved, _ := os.ReadFile(metaBoot)
	current := bootID()
	rebooted := len(saved) > 0 && strings.TrimSpace(string(saved)) != current
	if err := writeFileAtomic(metaBoot, []byte(current+"\n")); err != nil {
		a.log.Warn("could not record the boot ID", "err", err)
	}
	a.recoverExecutors(rebooted)
	found := a.launcher.Containers(filepath.Join(a.cfg.WorkDir, "agents"))
	files, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "meta", "tasks", "*", "*.json"))
	recovered, ended := 0, 0
	for _, path := range files {
		t, pending, err := a.loadCheckpoint(path)
		if err != nil {
			// Never a crash loop: set the file aside, say so, go on.
			a.log.Error("corrupt task checkpoint set aside", "path", path, "err", err)
			_ = os.Rename(path, path+".corrupt")
			continue
		}
		a.tasks[t.key] = t
		for _, st := range pending {
			a.updates.Add(t.key, st)
			t.last = st
		}
		if t.exited {
			continue // its last updates wait for acknowledgements
		}
		if rebooted {
			reason := mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED
			t.exited = true
			a.update(t, mesospb.TaskState_TASK_LOST, &reason, "The agent's machine rebooted: the task is gone")
			ended++
			continue
		}
		if a.adoptExecutorTask(t) {
			recovered++ // it lives as long as its executor, which subscribes again
			continue
		}
		spec := a.spec(t)
		spec.ExitFile = exitFile(t.sandbox)
		pid, start := t.pidHint, t.startTime
		if c, ok := found[t.containerID]; ok && pid == 0 {
			// The container started but the checkpoint naming its process
			// was never written (a full disk, or a crash in between).
			pid, start = c.Pid, c.StartTime
		}
		proc, err := a.launcher.Recover(spec, pid, start)
		switch {
		case err == nil:
			t.proc, t.startTime = proc, start
			recovered++
			a.log.Info("task recovered", "task", t.key.TaskID, "pid", proc.Pid)
			if t.state == mesospb.TaskState_TASK_STAGING || t.state == mesospb.TaskState_TASK_STARTING {
				_ = a.update(t, mesospb.TaskState_TASK_RUNNING, nil, "") // it runs: say so, as the launch would have
			}
			if t.info.GetHealthCheck() != nil {
				a.restartHealthCheck(t)
			}
			go func() {
				<-proc.Done()
				a.post(func() { a.exited(t) })
			}()
		default:
			ended++
			exit, ok := containerizer.ExitStatus(spec.ExitFile)
			if !ok {
				reason := mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED
				t.exited = true
				a.update(t, mesospb.TaskState_TASK_LOST, &reason, "The task ended while the agent was down and left no exit status")
				continue
			}
			a.reportExit(t, exit)
		}
	}
	if len(files) > 0 {
		a.log.Info("tasks recovered from checkpoints", "running", recovered, "ended while down", ended, "rebooted", rebooted)
	}
	a.killOrphans(found)
}

// killOrphans kills the containers on the host that no recovered task or
// executor claims (their checkpoints were lost or set aside, or their
// framework does not checkpoint): nobody could report or kill them
// otherwise, and their frameworks will have replaced them. Containers
// whose process is gone have their runtime state cleaned up.
func (a *Agent) killOrphans(found map[string]containerizer.Running) {
	if len(found) == 0 {
		return
	}
	known := make(map[string]bool, len(a.tasks)+len(a.executors))
	for _, t := range a.tasks {
		known[t.containerID] = true
	}
	for _, e := range a.executors {
		known[e.containerID] = true
	}
	for id, c := range found {
		if known[id] {
			continue
		}
		proc, err := a.launcher.Recover(containerizer.Spec{ID: id}, c.Pid, c.StartTime)
		if err != nil {
			continue // nothing runs; its leftovers are gone now
		}
		a.log.Warn("killing a container that no checkpoint names", "container", id, "pid", c.Pid)
		if err := proc.Signal(syscall.SIGKILL); err != nil {
			a.log.Warn("could not kill an orphan container", "container", id, "err", err)
		}
	}
}

func (a *Agent) loadCheckpoint(path string) (*taskRun, []*mesospb.TaskStatus, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var cp taskCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, nil, fmt.Errorf("decoding: %w", err)
	}
	fw, ti := &mesospb.FrameworkInfo{}, &mesospb.TaskInfo{}
	if err := proto.Unmarshal(cp.Framework, fw); err != nil {
		return nil, nil, fmt.Errorf("framework: %w", err)
	}
	if err := proto.Unmarshal(cp.Task, ti); err != nil {
		return nil, nil, fmt.Errorf("task: %w", err)
	}
	if fw.GetId().GetValue() == "" || ti.GetTaskId().GetValue() == "" || cp.ContainerID == "" || cp.Sandbox == "" {
		return nil, nil, errors.New("incomplete checkpoint")
	}
	var pending []*mesospb.TaskStatus
	for _, p := range cp.Pending {
		st := &mesospb.TaskStatus{}
		if err := proto.Unmarshal(p, st); err != nil {
			return nil, nil, fmt.Errorf("status update: %w", err)
		}
		pending = append(pending, st)
	}
	t := &taskRun{
		key: keyOf(fw.GetId(), ti.GetTaskId()), framework: fw, info: ti, containerID: cp.ContainerID,
		sandbox: cp.Sandbox, state: mesospb.TaskState(cp.State), exited: cp.Exited, killed: cp.Killed,
		startTime: cp.StartTime, pidHint: cp.Pid,
	}
	return t, pending, nil
}
