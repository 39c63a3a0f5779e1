package pets

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// A pet whose agent stops answering is not relaunched anywhere while its
// task may still run; once an operator marks the agent gone it starts
// afresh on another agent, and its old placement is recorded as
// abandoned.
func TestAtMostOnePetWhileItsAgentIsUnreachable(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 4, Master: func(c *master.Config) {
		c.AgentPingTimeout, c.MaxAgentPingTimeouts = 100*time.Millisecond, 3
	}})
	spec := dbSpec(3)
	spec["podManagementPolicy"] = "Parallel"
	h.do(http.MethodPost, "/v1/petsets", spec, http.StatusCreated)
	h.waitReady("db", 3, 0)
	before := h.pets("db")[1]
	i := h.agentIndex(before.AgentID)
	h.cluster.Partition(i)

	h.waitFor("db-1 to be in doubt", func() bool { return h.pets("db")[1].Phase == "unknown" })
	p := h.pets("db")[1]
	if !strings.Contains(p.Waiting, "may still be running") {
		t.Errorf("db-1 in doubt says waiting %q, want why it is not relaunched", p.Waiting)
	}
	// For a while (many reconciliations), it stays where it was.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) { // watching a window
		p := h.pets("db")[1]
		if p.Incarnation != 1 || p.PlacementID != before.PlacementID || p.Phase != "unknown" {
			t.Fatalf("db-1 while its agent is unreachable: %+v, want it left alone", p)
		}
	}
	if n := h.liveTasks(); n["db-1"] != 0 {
		t.Fatalf("the master has %d live db-1 tasks, want none it can see", n["db-1"])
	}

	h.operator(&masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String(before.AgentID)}}})
	h.waitFor("db-1 relaunched elsewhere", func() bool {
		p := h.pets("db")[1]
		return p.Ready && p.Incarnation == 2
	})
	after := h.pets("db")[1]
	if after.AgentID == before.AgentID || after.PlacementID == before.PlacementID {
		t.Errorf("db-1 came back on agent %s placement %s, want a new placement off the gone agent", after.AgentID, after.PlacementID)
	}
	if log := h.volumeFile(after, "pets", "log"); !strings.HasPrefix(log, "db-1 0 ") || strings.Count(log, "\n") != 1 {
		t.Errorf("db-1's new volume holds %q, want a fresh one", log)
	}
	var releases []Release
	mustJSON(t, h.do(http.MethodGet, "/v1/releases", nil, http.StatusOK), &releases)
	if len(releases) != 1 || releases[0].ID != before.PlacementID || releases[0].Abandoned == "" {
		t.Errorf("releases = %+v, want db-1's old placement, abandoned", releases)
	}
}

// Replacing a pet moves it to another agent with a fresh volume, and
// destroys its old volume and reservation.
func TestReplaceMovesAPetAndDestroysItsOldVolume(t *testing.T) {
	h := newHarness(t, sdktest.Options{Agents: 4})
	h.do(http.MethodPost, "/v1/petsets", dbSpec(3), http.StatusCreated)
	h.waitReady("db", 3, 0)
	before := h.pets("db")[0]
	oldDir := filepath.Join(h.cluster.Agents[h.agentIndex(before.AgentID)].WorkDir(), "volumes", "roles", "pets", before.Volumes[0].PersistenceID)
	if _, err := os.Stat(oldDir); err != nil {
		t.Fatal(err)
	}

	h.do(http.MethodPost, "/v1/petsets/db/pets/0/replace", nil, http.StatusAccepted)
	h.waitFor("db-0 replaced", func() bool {
		p := h.pets("db")[0]
		return p.Ready && p.Incarnation == 2
	})
	after := h.pets("db")[0]
	if after.AgentID == before.AgentID || after.PlacementID == before.PlacementID {
		t.Errorf("db-0 replaced onto agent %s placement %s, want another agent and placement", after.AgentID, after.PlacementID)
	}
	if log := h.volumeFile(after, "pets", "log"); strings.Count(log, "\n") != 1 {
		t.Errorf("db-0's new volume holds %q, want one fresh line", log)
	}
	h.waitFor("the old volume to be destroyed", func() bool {
		_, err := os.Stat(oldDir)
		return os.IsNotExist(err)
	})
	h.waitFor("the old reservation to be released", func() bool {
		return strings.TrimSpace(string(h.do(http.MethodGet, "/v1/releases", nil, http.StatusOK))) == "[]"
	})
	for k, p := range h.pets("db") {
		if k > 0 && p.Incarnation != 1 {
			t.Errorf("db-%d was relaunched by db-0's replacement", k)
		}
	}
}
