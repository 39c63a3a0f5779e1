package pets

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/masterpb"
)

// A 3-pet OrderedReady set: each pet starts after its predecessor is
// ready, knows its identity and its peers, keeps its data in its volume,
// and a killed pet comes back on the same agent with its data.
func TestPetsLaunchInOrderAndKeepTheirData(t *testing.T) {
	h := newHarness(t, sdktest.Options{})
	start := time.Now()
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)
	t.Logf("3-pet OrderedReady set ready in %v", time.Since(start).Round(time.Millisecond))

	pets := h.pets("db")
	var peers []string
	for k := range 3 {
		p := pets[k]
		peers = append(peers, fmt.Sprintf("db-%d=%s:%d", k, p.Host, p.Ports["client"]))
		if k > 0 && p.LaunchedAt.Before(pets[k-1].ReadyAt) {
			t.Errorf("db-%d launched at %v, before db-%d was ready at %v", k, p.LaunchedAt, k-1, pets[k-1].ReadyAt)
		}
		if p.Incarnation != 1 || p.TaskID != fmt.Sprintf("db-%d.1", k) {
			t.Errorf("db-%d: incarnation %d task %s, want one launch", k, p.Incarnation, p.TaskID)
		}
	}
	for k := range 3 {
		want := fmt.Sprintf("db-%d 0 1 %s\n", k, strings.Join(peers, ","))
		if got := h.volumeFile(pets[k], "pets", "log"); got != want {
			t.Errorf("db-%d's volume log = %q, want %q", k, got, want)
		}
	}

	// Tasks are named for the pet, with the pet's name as hostname.
	resp := h.operator(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
	for _, task := range resp.GetGetTasks().GetTasks() {
		if !strings.HasPrefix(task.GetTaskId().GetValue(), task.GetName()+".") || task.GetContainer().GetHostname() != task.GetName() {
			t.Errorf("task %s: name %q hostname %q, want the pet's name for both", task.GetTaskId().GetValue(), task.GetName(), task.GetContainer().GetHostname())
		}
	}

	// Endpoints name the current host and ports.
	var eps map[string]Endpoint
	mustJSON(t, h.do(http.MethodGet, "/v1/petsets/db/endpoints", nil, http.StatusOK), &eps)
	if e := eps["db-1"]; e.Host != pets[1].Host || e.Ports["client"] != pets[1].Ports["client"] || !e.Ready {
		t.Errorf("endpoint db-1 = %+v, want %s:%d ready", e, pets[1].Host, pets[1].Ports["client"])
	}

	// Kill pet 1's process: it is relaunched on its reservation, same
	// agent, same port, same volume, which still holds its first line.
	pids := h.petPIDs("db-1")
	if len(pids) == 0 {
		t.Fatal("no process of db-1 found")
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	h.waitFor("db-1 relaunched and ready", func() bool {
		p := h.pets("db")[1]
		return p.Incarnation == 2 && p.Ready
	})
	again := h.pets("db")[1]
	if again.AgentID != pets[1].AgentID || again.PlacementID != pets[1].PlacementID || again.Ports["client"] != pets[1].Ports["client"] {
		t.Errorf("db-1 came back at %s (placement %s, port %d), want %s (%s, %d)", again.Host, again.PlacementID, again.Ports["client"],
			pets[1].Host, pets[1].PlacementID, pets[1].Ports["client"])
	}
	log := h.volumeFile(again, "pets", "log")
	if lines := strings.Split(strings.TrimSpace(log), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "db-1 1 ") {
		t.Errorf("db-1's volume after the relaunch holds %q, want its first line and a second one counting it", log)
	}
	for k, p := range h.pets("db") {
		if k != 1 && p.Incarnation != 1 {
			t.Errorf("db-%d was relaunched (incarnation %d); only db-1 should have been", k, p.Incarnation)
		}
	}
}

// Scale down stops the highest ordinals one at a time and keeps their
// volumes; scale up gets the same data back; delete stops 2, 1, 0 in
// that order, each after the next is gone, and keeps the volumes unless
// purged.
func TestScaleAndDeleteInReverseOrder(t *testing.T) {
	h := newHarness(t, sdktest.Options{})
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)
	before := h.pets("db")

	h.do(http.MethodPost, "/v1/petsets/db/scale", map[string]int{"instances": 1}, http.StatusOK)
	h.waitFor("db scaled down to 1", func() bool {
		v := h.set("db")
		return v.Status == "ready" && v.Pets[1].Phase == "stopped" && v.Pets[2].Phase == "stopped"
	})
	ends := h.terminals()
	assertStopOrder(t, ends, "db-2", "db-1")
	for k := 1; k < 3; k++ {
		if got := h.volumeFile(before[k], "pets", "log"); !strings.HasPrefix(got, fmt.Sprintf("db-%d 0 ", k)) {
			t.Errorf("db-%d's volume after scale-down holds %q, want its data kept", k, got)
		}
	}

	h.do(http.MethodPost, "/v1/petsets/db/scale", map[string]int{"instances": 3}, http.StatusOK)
	h.waitReady("db", 3, 0)
	for k, p := range h.pets("db") {
		if p.PlacementID != before[k].PlacementID {
			t.Errorf("db-%d got placement %s after scale-up, want its own %s back", k, p.PlacementID, before[k].PlacementID)
		}
		if k > 0 {
			if got := h.volumeFile(p, "pets", "log"); !strings.Contains(got, fmt.Sprintf("db-%d 1 ", k)) {
				t.Errorf("db-%d's volume after scale-up holds %q, want a second line that saw the first", k, got)
			}
		}
	}

	n := len(h.terminals())
	h.do(http.MethodDelete, "/v1/petsets/db", nil, http.StatusAccepted)
	h.waitFor("db deleted", func() bool {
		h.t.Helper()
		return strings.Contains(string(h.do(http.MethodGet, "/v1/petsets", nil, http.StatusOK)), "[]")
	})
	assertStopOrder(t, h.terminals()[n:], "db-2", "db-1", "db-0")
	if got := h.volumeFile(before[0], "pets", "log"); got == "" {
		t.Error("db-0's volume is gone after a delete without purge")
	}

	// Created again, the set finds its pets' placements and data.
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)
	for k, p := range h.pets("db") {
		if p.PlacementID != before[k].PlacementID {
			t.Errorf("db-%d got placement %s after re-creation, want its kept %s", k, p.PlacementID, before[k].PlacementID)
		}
	}

	// Purged, the volumes are destroyed and the reservations returned.
	h.do(http.MethodDelete, "/v1/petsets/db?purge=true", nil, http.StatusAccepted)
	h.waitFor("the purge to release every reservation", func() bool {
		return strings.TrimSpace(string(h.do(http.MethodGet, "/v1/releases", nil, http.StatusOK))) == "[]" &&
			strings.Contains(string(h.do(http.MethodGet, "/v1/petsets", nil, http.StatusOK)), "[]")
	})
	for k := range 3 {
		dir := filepath.Join(h.cluster.Agents[h.agentIndex(before[k].AgentID)].WorkDir(), "volumes", "roles", "pets", before[k].Volumes[0].PersistenceID)
		h.waitFor("the volume directory of db-"+fmt.Sprint(k)+" to be deleted", func() bool {
			_, err := os.Stat(dir)
			return os.IsNotExist(err)
		})
	}
	h.waitFor("no agent to hold a reservation", func() bool {
		resp := h.operator(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
		for _, a := range resp.GetGetAgents().GetAgents() {
			for _, r := range a.GetTotalResources() {
				if len(r.GetReservations()) > 0 || r.GetRole() == "pets" {
					return false
				}
			}
		}
		return true
	})
}

// assertStopOrder checks that the named pets' tasks ended in that order,
// each at least the pet's 300 ms of shutdown after the previous: the next
// kill waited for the previous pet to be gone.
func assertStopOrder(t *testing.T, ends []update, names ...string) {
	t.Helper()
	var got []string
	var at []time.Time
	for _, u := range ends {
		name, _, _ := strings.Cut(u.st.GetTaskId().GetValue(), ".")
		got = append(got, name)
		at = append(at, u.at)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		var why []string
		for _, u := range ends {
			why = append(why, u.st.GetTaskId().GetValue()+": "+sdk.Describe(u.st))
		}
		t.Fatalf("pets stopped in order %v, want %v; the ends:\n%s", got, names, strings.Join(why, "\n"))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 250*time.Millisecond {
			t.Errorf("%s stopped %v after %s: its kill did not wait for %s to be gone", got[i], gap, got[i-1], got[i-1])
		}
	}
}
