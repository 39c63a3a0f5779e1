package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Executors of checkpointing frameworks survive an agent restart: the
// agent checkpoints each one (its info, container and process), adopts
// the process when it comes back, and waits for the executor to subscribe
// again. One that does not within ExecutorRegistrationTimeout is killed
// and its tasks reported, as Mesos does with its reregistration timeout.

type executorCheckpoint struct {
	Framework   []byte `json:"framework"` // FrameworkInfo
	Info        []byte `json:"info"`      // ExecutorInfo
	ContainerID string `json:"container_id"`
	Sandbox     string `json:"sandbox"`
	Pid         int    `json:"pid"`
	StartTime   uint64 `json:"start_time,omitempty"`
}

func (a *Agent) executorCheckpointPath(k execKey) string {
	return filepath.Join(a.cfg.WorkDir, "meta", "executors", url.PathEscape(k.framework), url.PathEscape(k.executor)+".json")
}

// checkpointExecutor records a running executor of a checkpointing
// framework; failures are logged (it would only not survive a restart).
func (a *Agent) checkpointExecutor(e *executorRun) error {
	if !e.framework.GetCheckpoint() || e.proc == nil {
		return nil
	}
	err := func() error {
		fw, err := proto.Marshal(e.framework)
		if err != nil {
			return err
		}
		info, err := proto.Marshal(e.info)
		if err != nil {
			return err
		}
		start, _ := containerizer.StartTime(e.proc.Pid)
		b, err := json.Marshal(executorCheckpoint{Framework: fw, Info: info, ContainerID: e.containerID, Sandbox: e.sandbox,
			Pid: e.proc.Pid, StartTime: start})
		if err != nil {
			return err
		}
		path := a.executorCheckpointPath(e.key)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return writeFileAtomic(path, b)
	}()
	if err != nil {
		a.log.Error("could not checkpoint an executor", "executor", e.key.executor, "err", err)
	}
	return err
}

func (a *Agent) dropExecutorCheckpoint(k execKey) {
	if err := os.Remove(a.executorCheckpointPath(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("could not remove an executor's checkpoint", "executor", k.executor, "err", err)
	}
}

// loadExecutors reads the executors' checkpoints, setting aside those
// it cannot read; after a reboot they are all gone.
func (a *Agent) loadExecutors(rebooted bool) []*executorRun {
	files, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "meta", "executors", "*", "*.json"))
	var out []*executorRun
	for _, path := range files {
		e, cp, err := loadExecutorCheckpoint(path)
		if err != nil {
			a.log.Error("corrupt executor checkpoint set aside", "path", path, "err", err)
			_ = os.Rename(path, path+".corrupt")
			continue
		}
		if rebooted {
			_ = os.Remove(path)
			continue
		}
		e.pidHint, e.startTime = cp.Pid, cp.StartTime
		out = append(out, e)
	}
	return out
}

// adoptExecutor takes back an executor whose container survived (proc),
// and waits for it to subscribe again; nil proc means it ended while the
// agent was down.
func (a *Agent) adoptExecutor(e *executorRun, proc *containerizer.Process) {
	if proc == nil {
		a.log.Info("executor ended while the agent was down", "executor", e.key.executor)
		_ = os.Remove(a.executorCheckpointPath(e.key))
		return
	}
	e.proc = proc
	a.executors[e.key] = e
	a.watchExecutor(e)
	e.timer = time.AfterFunc(a.cfg.ExecutorRegistrationTimeout, func() {
		a.post(func() {
			if e.events == nil && !e.gone {
				a.log.Warn("recovered executor did not subscribe again in time", "executor", e.key.executor)
				a.executorEnded(e, mesospb.TaskStatus_REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
					fmt.Sprintf("The executor did not subscribe again within %v of the agent's restart", a.cfg.ExecutorRegistrationTimeout))
			}
		})
	})
	a.log.Info("executor recovered; waiting for it to subscribe again", "executor", e.key.executor, "pid", proc.Pid)
}

func loadExecutorCheckpoint(path string) (*executorRun, *executorCheckpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var cp executorCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, nil, fmt.Errorf("decoding: %w", err)
	}
	fw, info := &mesospb.FrameworkInfo{}, &mesospb.ExecutorInfo{}
	if err := proto.Unmarshal(cp.Framework, fw); err != nil {
		return nil, nil, fmt.Errorf("framework: %w", err)
	}
	if err := proto.Unmarshal(cp.Info, info); err != nil {
		return nil, nil, fmt.Errorf("executor: %w", err)
	}
	if fw.GetId().GetValue() == "" || info.GetExecutorId().GetValue() == "" || cp.ContainerID == "" || cp.Sandbox == "" || cp.Pid <= 0 {
		return nil, nil, errors.New("incomplete checkpoint")
	}
	e := &executorRun{key: execKey{fw.GetId().GetValue(), info.GetExecutorId().GetValue()}, info: info, framework: fw,
		containerID: cp.ContainerID, sandbox: cp.Sandbox, tasks: map[string]*taskRun{}}
	return e, &cp, nil
}

// adoptExecutorTask attaches a recovered task to its recovered executor;
// false if the executor did not survive.
func (a *Agent) adoptExecutorTask(t *taskRun) bool {
	ex := t.info.GetExecutor()
	if ex == nil {
		return false
	}
	e := a.executors[execKey{t.key.FrameworkID, ex.GetExecutorId().GetValue()}]
	if e == nil || e.gone {
		return false
	}
	t.exec, t.sandbox = e, e.sandbox
	e.tasks[t.key.TaskID] = t
	return true
}

// resubscribed takes the updates an executor sent that the agent never
// recorded (it restarted first) from its re-subscription.
func (a *Agent) resubscribed(e *executorRun, sub *executorpb.Call_Subscribe) {
	for _, u := range sub.GetUnacknowledgedUpdates() {
		st := u.GetStatus()
		t := e.tasks[st.GetTaskId().GetValue()]
		if t == nil || len(st.GetUuid()) == 0 || a.updates.Known(t.key, st.GetUuid()) || (t.last != nil && string(t.last.GetUuid()) == string(st.GetUuid())) {
			continue
		}
		if t.last != nil && t.last.GetTimestamp() > st.GetTimestamp() {
			continue // older than what the agent has
		}
		a.executorCall(e.key, &executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: u})
	}
}
