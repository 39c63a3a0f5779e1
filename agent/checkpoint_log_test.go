package agent

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/cplog"
	"github.com/corral-sched/corral/proto/mesospb"
)

// runOffline starts an agent on workDir that never reaches a master; the
// returned func stops it and waits for Run to return.
func runOffline(t *testing.T, workDir string) (*Agent, func()) {
	t.Helper()
	a, err := New(Config{Master: "127.0.0.1:1", Addr: "127.0.0.1:5051", Hostname: "h", WorkDir: workDir,
		Resources: "cpus:1;mem:64", RegisterBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.RunInBackground(a.Run)
	t.Cleanup(stop)
	return a, stop
}

// logRecords reads the checkpoint log of a stopped agent.
func logRecords(t *testing.T, workDir string) map[string][]byte {
	t.Helper()
	l, recs, err := cplog.Open(filepath.Join(workDir, "meta", "tasklog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return recs
}

func sameBoot(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta", "boot_id"), []byte(bootID()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An agent started on a work dir of the version that kept a file per
// task recovers those tasks, moves them into the log, and removes the
// files; the next start finds them in the log alone.
func TestUpgradeMovesPerTaskFilesIntoTheLog(t *testing.T) {
	dir := t.TempDir()
	sameBoot(t, dir)
	finished := writeTaskCheckpoint(t, dir, "finished", 1<<30, "0")
	failed := writeTaskCheckpoint(t, dir, "failed", 1<<30, "3")
	_ = os.WriteFile(failed+".tmp", []byte("{half"), 0o644) // a replacement a crash interrupted
	want := map[string]string{"finished": "TASK_FINISHED", "failed": "TASK_FAILED"}

	a, stop := runOffline(t, dir)
	waitState(t, a, want)
	stop()
	for _, path := range []string{finished, failed, failed + ".tmp", filepath.Join(dir, "meta", "tasks")} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s is left after the move: %v", path, err)
		}
	}
	recs := logRecords(t, dir)
	if len(recs) != 2 {
		t.Fatalf("the log holds %d records, want the 2 tasks", len(recs))
	}
	// Their terminal updates, unacknowledged, went to the log too.
	var cp taskCheckpoint
	if err := json.Unmarshal(recs["F1/finished"], &cp); err != nil {
		t.Fatalf("the record of finished: %v", err)
	}
	if mesospb.TaskState(cp.State) != mesospb.TaskState_TASK_FINISHED || len(cp.Pending) == 0 {
		t.Fatalf("the record of finished is at %v with %d pending updates, want TASK_FINISHED pending",
			mesospb.TaskState(cp.State), len(cp.Pending))
	}

	a, _ = runOffline(t, dir)
	waitState(t, a, want)
}

// A record of the log that does not decode is set aside, never a crash
// loop; the others are recovered.
func TestCorruptLogRecordsAreSetAside(t *testing.T) {
	dir := t.TempDir()
	sameBoot(t, dir)
	path := writeTaskCheckpoint(t, dir, "good", 1<<30, "0")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(dir, "meta", "tasks"))
	l, _, err := cplog.Open(filepath.Join(dir, "meta", "tasklog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string][]byte{
		"F1/good":      good,
		"F1/not-json":  []byte("{not json"),
		"F1/elsewhere": good, // a record under another task's key
		"F1/no-task":   mustJSON(t, taskCheckpoint{ContainerID: "c", Sandbox: "/s"}),
	} {
		if err := l.Put(key, value); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	a, stop := runOffline(t, dir)
	waitState(t, a, map[string]string{"good": "TASK_FINISHED"})
	stop()
	aside, _ := filepath.Glob(filepath.Join(dir, "meta", "tasklog", "record.*.corrupt"))
	if len(aside) != 3 {
		t.Fatalf("set aside: %v, want the 3 bad records", aside)
	}
	recs := logRecords(t, dir)
	if _, ok := recs["F1/good"]; len(recs) != 1 || !ok {
		t.Fatalf("the log holds %d records after recovery, want only F1/good", len(recs))
	}
}

// Keys escape the IDs: a framework ID with a slash cannot pass for
// another framework's task.
func TestCheckpointKeysAreOneToOne(t *testing.T) {
	a := checkpointKey(keyOf(&mesospb.FrameworkID{Value: proto.String("a/b")}, &mesospb.TaskID{Value: proto.String("c")}))
	b := checkpointKey(keyOf(&mesospb.FrameworkID{Value: proto.String("a")}, &mesospb.TaskID{Value: proto.String("b/c")}))
	if a == b {
		t.Fatalf("two tasks share the key %q", a)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
