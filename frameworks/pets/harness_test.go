package pets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/store"
)

// harness is a pets framework on a real in-process cluster, with its
// REST API on loopback.
type harness struct {
	t       *testing.T
	cluster *sdktest.Cluster
	master  string // where the framework finds the master; "": the cluster's
	// reconcileInterval is the framework's; 0: 300 ms.
	reconcileInterval time.Duration
	store             store.Store
	f                 *Framework
	api               *httptest.Server
	stop              func()
}

type update struct {
	at time.Time
	st *mesospb.TaskStatus
}

func newHarness(t *testing.T, opts sdktest.Options) *harness {
	t.Helper()
	if opts.Agents == 0 {
		opts.Agents = 3
	}
	c := sdktest.Start(t, opts)
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cluster: c, store: st}
	h.start()
	return h
}

func (h *harness) start() {
	h.t.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	addr := h.master
	if addr == "" {
		addr = h.cluster.MasterAddr
	}
	interval := h.reconcileInterval
	if interval == 0 {
		interval = 300 * time.Millisecond
	}
	f, err := New(context.Background(), Config{Master: addr, Store: h.store, Logger: log,
		ReconcileInterval: interval, ReplaceAvoid: time.Minute})
	if err != nil {
		h.t.Fatal(err)
	}
	h.f = f
	h.api = httptest.NewServer(f.Handler(nil))
	stopRun := testkit.RunInBackground(f.Run)
	h.stop = sync.OnceFunc(func() { stopRun(); h.api.Close() })
	h.t.Cleanup(h.stop)
}

// restart stops the framework and starts a new one on the same store, as
// a restarted process would.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *harness) do(method, path string, body any, want int) []byte {
	h.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.api.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: %s %s, want %d", method, path, resp.Status, b, want)
	}
	return b
}

func (h *harness) set(id string) *PetSetView {
	h.t.Helper()
	v := &PetSetView{}
	if err := json.Unmarshal(h.do(http.MethodGet, "/v1/petsets/"+id, nil, http.StatusOK), v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

// pets returns the set's pets by ordinal.
func (h *harness) pets(id string) map[int]*PetView {
	out := map[int]*PetView{}
	for _, p := range h.set(id).Pets {
		out[p.Ordinal] = p
	}
	return out
}

// waitFor polls cond until it holds or a minute passes.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	sdktest.Eventually(h.t, what, cond)
}

// waitReady waits until the set is ready with n ready pets at revision
// rev (0: any).
func (h *harness) waitReady(id string, n, rev int) *PetSetView {
	h.t.Helper()
	var v *PetSetView
	h.waitFor(fmt.Sprintf("set %s ready with %d pets", id, n), func() bool {
		v = h.set(id)
		return v.Status == "ready" && v.ReadyPets == n && (rev == 0 || v.UpdatedPets == n)
	})
	return v
}

// volumeFile reads a file of a pet's volume from its agent's disk.
func (h *harness) volumeFile(p *PetView, role, name string) string {
	h.t.Helper()
	if len(p.Volumes) == 0 {
		h.t.Fatalf("pet %s has no volume", p.Name)
	}
	for _, a := range h.cluster.Agents {
		if a.ID() == p.AgentID {
			b, _ := os.ReadFile(filepath.Join(a.WorkDir(), "volumes", "roles", role, p.Volumes[0].PersistenceID, name))
			return string(b)
		}
	}
	h.t.Fatalf("pet %s: no agent %s", p.Name, p.AgentID)
	return ""
}

// agentIndex is the test cluster's index of an agent.
func (h *harness) agentIndex(id string) int {
	for i, a := range h.cluster.Agents {
		if a.ID() == id {
			return i
		}
	}
	h.t.Fatalf("no agent %s", id)
	return -1
}

// terminals lists, in order, the pets whose tasks ended, with when.
func (h *harness) terminals() []update {
	var out []update
	seen := map[string]bool{}
	for _, e := range h.cluster.Events(h.f.FrameworkID(), schedulerpb.Event_UPDATE) {
		// A task's end may arrive more than once (an update re-sent
		// before its acknowledgement, a reconciliation's answer): the
		// first is when it stopped.
		st := e.Event.GetUpdate().GetStatus()
		if id := st.GetTaskId().GetValue(); !e.Dropped && mesospb.IsTerminal(st.GetState()) && !seen[id] {
			seen[id] = true
			out = append(out, update{e.At, st})
		}
	}
	return out
}

// operator sends a call to the master's operator API.
func (h *harness) operator(call *masterpb.Call) *masterpb.Response {
	h.t.Helper()
	resp, err := h.cluster.Operator(context.Background(), call)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// liveTasks counts the master's non-terminal tasks per task name, those of
// unreachable agents left out.
func (h *harness) liveTasks() map[string]int {
	counts := map[string]int{}
	for _, t := range h.operator(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()}).GetGetTasks().GetTasks() {
		if !mesospb.IsTerminal(t.GetState()) {
			counts[t.GetName()]++
		}
	}
	return counts
}

// petPIDs finds the processes of a pet (by CORRAL_PET_NAME in their
// environment) under the cluster's agents.
// petPIDs finds the processes of pet name that this test's agents run
// (by the pet's name and a sandbox under one of their work dirs): tests
// of other packages may run pets of the same name at the same time.
func (h *harness) petPIDs(name string) []int {
	var roots []string
	for _, a := range h.cluster.Agents {
		roots = append(roots, "MESOS_SANDBOX="+a.WorkDir()+"/")
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		named, ours := false, false
		for _, kv := range strings.Split(string(env), "\x00") {
			named = named || kv == "CORRAL_PET_NAME="+name
			for _, r := range roots {
				ours = ours || strings.HasPrefix(kv, r)
			}
		}
		if named && ours {
			out = append(out, pid)
		}
	}
	return out
}

// petCmd is a pet that logs its name, how many lines its volume's log
// had and its peers, becomes ready a little later, and on SIGTERM takes
// a moment to stop (so that stop order is observable).
const petCmd = `n=$(cat data/log 2>/dev/null | wc -l); echo "$CORRAL_PET_NAME $n $DB_VERSION $CORRAL_PETSET_PEERS" >> data/log
trap 'sleep 0.3; exit 0' TERM
sleep 0.2; touch ready
while true; do sleep 0.05; done`

func dbSpec(instances int) map[string]any {
	return map[string]any{
		"id": "db", "instances": instances, "cmd": petCmd, "cpus": 0.1, "mem": 32, "ports": []string{"client"},
		"constraints":     [][]string{{"hostname", "UNIQUE"}},
		"volumes":         []map[string]any{{"containerPath": "data", "size": 10}},
		"readinessChecks": []map[string]any{{"protocol": "COMMAND", "command": "test -f ready", "intervalSeconds": 0.05}},
		"env":             map[string]string{"DB_VERSION": "1"},
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}
