package agent

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/proto/mesospb"
)

// writeTaskCheckpoint leaves a checkpoint as an agent that died would.
func writeTaskCheckpoint(t *testing.T, workDir, taskID string, pid int, exitStatus string) string {
	t.Helper()
	sandbox := filepath.Join(workDir, "agents", "S1", "frameworks", "F1", "executors", taskID, "runs", "c-"+taskID)
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	if exitStatus != "" {
		_ = os.WriteFile(exitFile(sandbox), []byte(exitStatus+"\n"), 0o644)
	}
	fw, _ := proto.Marshal(&mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("F1")}, User: proto.String("root"), Name: proto.String("f")})
	ti, _ := proto.Marshal(&mesospb.TaskInfo{Name: proto.String(taskID), TaskId: &mesospb.TaskID{Value: proto.String(taskID)},
		AgentId: &mesospb.AgentID{Value: proto.String("S1")}, Command: &mesospb.CommandInfo{Value: proto.String("true")}})
	cp := taskCheckpoint{Framework: fw, Task: ti, ContainerID: "c-" + taskID, Sandbox: sandbox, Pid: pid, StartTime: 1,
		State: int32(mesospb.TaskState_TASK_RUNNING)}
	b, _ := json.Marshal(cp)
	a := &Agent{cfg: Config{WorkDir: workDir}}
	path := a.checkpointPath(statusupdate.Key{FrameworkID: "F1", TaskID: taskID})
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func agentState(t *testing.T, h http.Handler) stateView {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/state", nil))
	var v stateView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("/state: %v: %s", err, rec.Body.String())
	}
	return v
}

func startOffline(t *testing.T, workDir string) *Agent {
	t.Helper()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: workDir,
		Resources: "cpus:1;mem:64", RegisterBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(a.Run))
	return a
}

func waitState(t *testing.T, a *Agent, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, task := range agentState(t, a.Handler()).Tasks {
			got[task.ID] = task.State
		}
		match := true
		for id, st := range want {
			match = match && got[id] == st
		}
		if match && len(got) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recovered tasks %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func TestRecoveryReportsWhatEndedAndSetsCorruptCheckpointsAside(t *testing.T) {
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "meta", "boot_id"), []byte(bootID()+"\n"), 0o644)
	writeTaskCheckpoint(t, dir, "finished", 1<<30, "0")
	writeTaskCheckpoint(t, dir, "failed", 1<<30, "3")
	writeTaskCheckpoint(t, dir, "vanished", 1<<30, "")
	corrupt := writeTaskCheckpoint(t, dir, "corrupt", 1<<30, "0")
	_ = os.WriteFile(corrupt, []byte("{not json"), 0o644)

	a := startOffline(t, dir)
	waitState(t, a, map[string]string{"finished": "TASK_FINISHED", "failed": "TASK_FAILED", "vanished": "TASK_LOST"})
	if _, err := os.Stat(corrupt + ".corrupt"); err != nil {
		t.Fatalf("the corrupt checkpoint was not set aside: %v", err)
	}
}

func TestRecoveryAfterARebootReportsTasksLost(t *testing.T) {
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "meta"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "meta", "boot_id"), []byte("an-earlier-boot\n"), 0o644)
	writeTaskCheckpoint(t, dir, "was-running", os.Getpid(), "")
	a := startOffline(t, dir)
	waitState(t, a, map[string]string{"was-running": "TASK_LOST"})
}
