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

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/testcluster"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// harness is a pets framework on a real in-process cluster, with its
// REST API on loopback.
type harness struct {
	t       *testing.T
	cluster *testcluster.Cluster
	store   store.Store
	f       *Framework
	api     *httptest.Server
	stop    func()

	mu      sync.Mutex
	updates []update
}

type update struct {
	at time.Time
	st *mesospb.TaskStatus
}

func newHarness(t *testing.T, opts testcluster.Options) *harness {
	t.Helper()
	if opts.Agents == 0 {
		opts.Agents = 3
	}
	c := testcluster.Start(t, opts)
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
	f, err := New(context.Background(), Config{Master: h.cluster.MasterAddr, Store: h.store, Logger: log,
		ReconcileInterval: 300 * time.Millisecond, ReplaceAvoid: time.Minute,
		OnUpdate: func(st *mesospb.TaskStatus) {
			h.mu.Lock()
			h.updates = append(h.updates, update{time.Now(), st})
			h.mu.Unlock()
		}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.f = f
	h.api = httptest.NewServer(f.Handler(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done; h.api.Close() }) }
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
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
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
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []update
	seen := map[string]bool{}
	for _, u := range h.updates {
		// A task's end may arrive more than once (an update re-sent
		// before its acknowledgement, a reconciliation's answer): the
		// first is when it stopped.
		if id := u.st.GetTaskId().GetValue(); mesospb.IsTerminal(u.st.GetState()) && !seen[id] {
			seen[id] = true
			out = append(out, u)
		}
	}
	return out
}

// operator sends a call to the master's operator API.
func (h *harness) operator(call *masterpb.Call) *masterpb.Response {
	h.t.Helper()
	body, _ := codec.JSON.Marshal(call)
	resp, err := http.Post(h.cluster.MasterURL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		h.t.Fatalf("%v: %s: %s", call.GetType(), resp.Status, b)
	}
	out := &masterpb.Response{}
	if len(b) > 0 {
		if err := codec.JSON.Unmarshal(b, out); err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

// liveTasks counts the master's non-terminal tasks per task name.
func liveTasks(masterURL string) (map[string]int, error) {
	tasks, err := masterTasks(masterURL)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, t := range tasks {
		if !mesospb.IsTerminal(t.GetState()) {
			counts[t.GetName()]++
		}
	}
	return counts, nil
}

// masterTasks lists every task the master knows, ended ones included.
func masterTasks(masterURL string) ([]*mesospb.Task, error) {
	body, _ := codec.JSON.Marshal(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
	resp, err := http.Post(masterURL+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET_TASKS: %s: %v", resp.Status, err)
	}
	out := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return append(out.GetGetTasks().GetTasks(), out.GetGetTasks().GetCompletedTasks()...), nil
}

// petPIDs finds the processes of a pet (by CORRAL_PET_NAME in their
// environment) under the cluster's agents.
func petPIDs(name string) []int {
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
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == "CORRAL_PET_NAME="+name {
				out = append(out, pid)
			}
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
