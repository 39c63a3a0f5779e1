package pets

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
)

func withVersion(spec map[string]any, version string, partition int) map[string]any {
	spec["env"] = map[string]string{"DB_VERSION": version}
	spec["updateStrategy"] = map[string]any{"type": "RollingUpdate", "partition": partition}
	return spec
}

// A rolling update with partition 1 updates pet 2, then pet 1 once pet 2
// is ready again, and leaves pet 0 alone; lowering the partition to 0
// finishes the update without a new revision.
func TestRollingUpdateWithPartition(t *testing.T) {
	h := newHarness(t, sdktest.Options{})
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)
	before := h.pets("db")

	h.do(http.MethodPut, "/v1/petsets/db", withVersion(dbSpec(3), "2", 1), http.StatusOK)
	h.waitFor("pets 2 and 1 at revision 2", func() bool {
		v := h.set("db")
		return v.Revision == 2 && v.Status == "ready" && v.Pets[1].Revision == 2 && v.Pets[2].Revision == 2 && v.ReadyPets == 3
	})
	pets := h.pets("db")
	if p := pets[0]; p.Revision != 1 || p.Incarnation != 1 {
		t.Errorf("db-0 below the partition: revision %d incarnation %d, want untouched (1, 1)", p.Revision, p.Incarnation)
	}
	if pets[1].LaunchedAt.Before(pets[2].ReadyAt) {
		t.Errorf("db-1 was relaunched at %v, before db-2 was ready again at %v", pets[1].LaunchedAt, pets[2].ReadyAt)
	}
	assertStopOrder(t, h.terminals(), "db-2", "db-1")
	for k := 1; k < 3; k++ {
		if pets[k].PlacementID != before[k].PlacementID {
			t.Errorf("db-%d moved to placement %s in the update", k, pets[k].PlacementID)
		}
		log := h.volumeFile(pets[k], "pets", "log")
		if lines := strings.Split(strings.TrimSpace(log), "\n"); len(lines) != 2 || strings.Fields(lines[1])[2] != "2" {
			t.Errorf("db-%d's volume holds %q, want the old line and one from version 2", k, log)
		}
	}

	h.do(http.MethodPut, "/v1/petsets/db", withVersion(dbSpec(3), "2", 0), http.StatusOK)
	h.waitReady("db", 3, 2)
	v := h.set("db")
	if v.Revision != 2 {
		t.Errorf("changing the partition made revision %d, want 2 (the pets' template did not change)", v.Revision)
	}
	for k, p := range h.pets("db") {
		if p.Incarnation != 2 || p.Revision != 2 {
			t.Errorf("db-%d: incarnation %d revision %d, want each pet updated exactly once", k, p.Incarnation, p.Revision)
		}
	}
}

// Restarting the framework in the middle of a rolling update adopts the
// running pets and resumes the update: nothing is killed twice, no pet
// ever runs twice.
func TestRollingUpdateResumesAfterFrameworkRestart(t *testing.T) {
	h := newHarness(t, sdktest.Options{})
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)

	// Watch the master's tasks for two live tasks of one pet.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	most := map[string]int{}
	seen := map[string]bool{} // task IDs the master has known
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // sampling the master's tasks
			}
			tasks, err := h.cluster.Tasks(context.Background())
			if err != nil {
				continue
			}
			counts := map[string]int{}
			mu.Lock()
			for _, task := range tasks {
				seen[task.GetTaskId().GetValue()] = true
				if !mesospb.IsTerminal(task.GetState()) {
					counts[task.GetName()]++
				}
			}
			for name, n := range counts {
				most[name] = max(most[name], n)
			}
			mu.Unlock()
		}
	}()

	h.do(http.MethodPut, "/v1/petsets/db", withVersion(dbSpec(3), "2", 0), http.StatusOK)
	h.waitFor("db-2 updated", func() bool { return h.pets("db")[2].Revision == 2 })
	h.restart()
	v := h.waitReady("db", 3, 2)
	close(stop)
	wg.Wait()

	if v.Revision != 2 {
		t.Errorf("revision %d after the restart, want 2", v.Revision)
	}
	// One launch per pet for the update. A launch the framework recorded
	// but never got to the master before it stopped is made again under
	// a new incarnation, as it must be (the master answers the
	// reconciliation of an unknown task with TASK_LOST); only launches the
	// master knew count.
	mu.Lock()
	defer mu.Unlock()
	final, err := h.cluster.Tasks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range final {
		seen[task.GetTaskId().GetValue()] = true
	}
	for k, p := range h.pets("db") {
		var launched []string
		for inc := 2; inc <= p.Incarnation; inc++ {
			if id := fmt.Sprintf("db-%d.%d", k, inc); seen[id] {
				launched = append(launched, id)
			}
		}
		if p.Revision != 2 || len(launched) != 1 || !seen[p.TaskID] {
			t.Errorf("db-%d: revision %d, task %s, update launches the master knew %v; want one launch for the update", k, p.Revision, p.TaskID, launched)
		}
	}
	for name, n := range most {
		if n > 1 {
			t.Errorf("%s had %d live tasks at once", name, n)
		}
	}
	if len(most) != 3 {
		t.Errorf("sampled tasks of %v, want the 3 pets", most)
	}
}
