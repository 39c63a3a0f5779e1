package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/mesospb"
)

// The agent checkpoints each task in one append-only log, meta/tasklog
// (package cplog), keyed by framework and task: what the task is, where
// its process is, and its unacknowledged status updates. A restarted agent
// (after kill -9 or an upgrade) re-attaches to the tasks still running,
// reports those that ended meanwhile from the exit status they left in
// their sandbox, re-sends what was never acknowledged, and re-registers
// with all of them. A checkpoint is in the kernel once written, not
// synced to disk: a machine crash may lose the last updates, but then the
// tasks are gone too and are reported lost. Earlier versions kept a file
// per task under meta/tasks; recovery moves those into the log.

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

// checkpointPath is where earlier versions kept a task's checkpoint.
func (a *Agent) checkpointPath(k statusupdate.Key) string {
	return filepath.Join(a.cfg.WorkDir, "meta", "tasks", url.PathEscape(k.FrameworkID), url.PathEscape(k.TaskID)+".json")
}

// checkpointKey names a task in the log; escaping keeps it one-to-one.
func checkpointKey(k statusupdate.Key) string {
	return url.PathEscape(k.FrameworkID) + "/" + url.PathEscape(k.TaskID)
}

func (a *Agent) checkpointLogDir() string { return filepath.Join(a.cfg.WorkDir, "meta", "tasklog") }

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
		StartTime: t.startTime, State: int32(t.state), Exited: t.life.Ended(), Killed: t.life.KillAsked()}
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
	return a.checkpoints.Put(checkpointKey(t.key), b)
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
	if err := a.checkpoints.Delete(checkpointKey(k)); err != nil {
		// A restart then re-sends the task's last update, which is
		// acknowledged again: a duplicate, never a lost task.
		a.log.Warn("could not remove a task's checkpoint", "task", k.TaskID, "err", err)
	}
}

// bootID identifies this boot of the machine: tasks checkpointed in
// another boot are gone.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// recoverTasks runs on the loop before the first subscription, with the
// records the checkpoint log held.
func (a *Agent) recoverTasks(records map[string][]byte) {
	metaBoot := filepath.Join(a.cfg.WorkDir, "meta", "boot_id")
	saved, _ := os.ReadFile(metaBoot)
	current := bootID()
	rebooted := len(saved) > 0 && strings.TrimSpace(string(saved)) != current
	if err := writeFileAtomic(metaBoot, []byte(current+"\n")); err != nil {
		a.log.Warn("could not record the boot ID", "err", err)
	}
	execs := a.loadExecutors(rebooted)
	a.moveLegacyCheckpoints(records)
	var tasks []*taskRun
	for _, key := range slices.Sorted(maps.Keys(records)) {
		t, pending, err := decodeCheckpoint(records[key])
		if err == nil && checkpointKey(t.key) != key {
			err = fmt.Errorf("it names task %s of framework %s", t.key.TaskID, t.key.FrameworkID)
		}
		if err != nil {
			a.setCheckpointAside(key, records[key], err)
			continue
		}
		a.tasks[t.key] = t
		for _, st := range pending {
			a.updates.Add(t.key, st)
			t.last = st
		}
		tasks = append(tasks, t)
	}

	// Every container a checkpoint names, in one pass: the containerizer
	// also kills those none names and lets the isolators clean up.
	var list []containerizer.Recovered
	for _, e := range execs {
		list = append(list, containerizer.Recovered{Spec: a.executorSpec(e), Pid: e.pidHint, StartTime: e.startTime})
	}
	specs := make(map[*taskRun]containerizer.Spec)
	for _, t := range tasks {
		if t.life.Ended() || rebooted || t.info.GetExecutor() != nil {
			continue
		}
		spec, err := a.spec(t)
		if err != nil {
			a.log.Warn("recovering a task whose container cannot be described", "task", t.key.TaskID, "err", err)
		}
		spec.ID, spec.Sandbox, spec.ExitFile = t.containerID, t.sandbox, exitFile(t.sandbox)
		specs[t] = spec
		list = append(list, containerizer.Recovered{Spec: spec, Pid: t.pidHint, StartTime: t.startTime})
	}
	procs := a.containers.Recover(context.Background(), list)
	for _, e := range execs {
		a.adoptExecutor(e, procs[e.containerID])
	}

	recovered, ended := 0, 0
	for _, t := range tasks {
		if t.life.Ended() {
			continue // its last updates wait for acknowledgements
		}
		if rebooted {
			a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_LOST,
				Reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum(), Message: "The agent's machine rebooted: the task is gone"}))
			ended++
			continue
		}
		if t.info.GetExecutor() != nil {
			if a.adoptExecutorTask(t) {
				recovered++ // it lives as long as its executor, which subscribes again
			} else {
				ended++
				a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_LOST,
					Reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum(), Message: "The task's executor ended while the agent was down"}))
			}
			continue
		}
		if proc := procs[t.containerID]; proc != nil {
			t.proc = proc
			t.startTime, _ = containerizer.StartTime(proc.Pid)
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
			continue
		}
		ended++
		exit, ok := containerizer.ExitStatus(specs[t].ExitFile)
		if !ok {
			a.apply(t, t.life.End(lifecycle.Report{State: mesospb.TaskState_TASK_LOST,
				Reason: mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED.Enum(), Message: "The task ended while the agent was down and left no exit status"}))
			continue
		}
		eff, _ := t.life.Exited(exit) // a restored task is past its launch
		a.apply(t, eff)
	}
	if len(tasks) > 0 {
		a.log.Info("tasks recovered from checkpoints", "running", recovered, "ended while down", ended, "rebooted", rebooted)
	}
}

func decodeCheckpoint(b []byte) (*taskRun, []*mesospb.TaskStatus, error) {
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
		sandbox: cp.Sandbox, state: mesospb.TaskState(cp.State), life: lifecycle.Restore(cp.Exited, cp.Killed, ti.Executor != nil),
		startTime: cp.StartTime, pidHint: cp.Pid,
	}
	return t, pending, nil
}

// setCheckpointAside moves a record recovery cannot read out of the log
// into a file next to it, for inspection: never a crash loop.
func (a *Agent) setCheckpointAside(key string, b []byte, why error) {
	path := filepath.Join(a.checkpointLogDir(), "record."+url.PathEscape(key)+".corrupt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		a.log.Error("corrupt task checkpoint dropped; could not keep a copy", "key", key, "err", why, "copy", err)
	} else {
		a.log.Error("corrupt task checkpoint set aside", "key", key, "path", path, "err", why)
	}
	if err := a.checkpoints.Delete(key); err != nil {
		a.log.Warn("could not remove a corrupt task checkpoint from the log", "key", key, "err", err)
	}
}

// moveLegacyCheckpoints moves the per-task files of earlier versions
// into the log and adds them to records. A file goes only once the log
// holds it durably; one the log cannot take stays and is read again next
// time. A record the log already holds wins: an earlier move stopped
// before removing the file.
func (a *Agent) moveLegacyCheckpoints(records map[string][]byte) {
	dir := filepath.Join(a.cfg.WorkDir, "meta", "tasks")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	var moved []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		var t *taskRun
		if err == nil {
			t, _, err = decodeCheckpoint(b)
		}
		if err != nil {
			a.log.Error("corrupt task checkpoint set aside", "path", path, "err", err)
			_ = os.Rename(path, path+".corrupt")
			continue
		}
		key := checkpointKey(t.key)
		if _, ok := records[key]; !ok {
			if err := a.checkpoints.Put(key, b); err != nil {
				a.log.Error("could not move a task checkpoint into the log; it is read from its file", "path", path, "err", err)
				records[key] = b
				continue
			}
			records[key] = b
		}
		moved = append(moved, path)
	}
	if len(moved) == 0 {
		return
	}
	if err := a.checkpoints.Sync(); err != nil {
		a.log.Error("could not sync the checkpoint log; the task checkpoints' files stay", "err", err)
		return
	}
	for _, path := range moved {
		if err := os.Remove(path); err != nil {
			a.log.Warn("could not remove a task checkpoint moved into the log", "path", path, "err", err)
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*", "*.json.tmp"))
	for _, path := range tmps {
		_ = os.Remove(path) // a replacement that never happened
	}
	fws, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, fw := range fws {
		_ = os.Remove(fw) // only if empty
	}
	_ = os.Remove(dir)
	a.log.Info("task checkpoints moved into the log", "tasks", len(moved), "log", a.checkpointLogDir())
}
