package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// petProcesses lists the live processes of pet name's tasks: their
// sandboxes are their command executors' (executor ID = task ID
// "<name>.<incarnation>").
func petProcesses(root, name string) []int {
	var out []int
	for _, pid := range sandboxTasks(root, "sleep") {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && strings.Contains(cwd, "/executors/"+name+".") {
			out = append(out, pid)
		}
	}
	return out
}

type petStatus struct {
	Name, Phase, AgentID, Waiting string
	Ready                         bool
	// Incarnation counts the pet's launches; Revision is the set's
	// revision its task runs.
	Incarnation, Revision int
}

func petsOf(t *testing.T, api, set string) map[string]petStatus {
	resp, err := http.Get(api + "/v1/petsets/" + set)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var v struct{ Pets []petStatus }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return nil
	}
	out := map[string]petStatus{}
	for _, p := range v.Pets {
		out[p.Name] = p
	}
	return out
}

// The at-most-one guarantee with real processes: the agent running db-2
// is SIGSTOPped past the unreachable timeout and db-2 is not relaunched
// anywhere; the machine then dies (agent and tasks killed) and an operator
// marks it gone: db-2 comes back elsewhere. A checker sampling every
// process throughout never sees two db-2 processes at once.
func TestPetIsNeverTwiceEvenWhenItsAgentIsStopped(t *testing.T) {
	root := t.TempDir()
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"),
		"--allocation-interval", "100ms", "--agent-ping-timeout", "200ms", "--max-agent-ping-timeouts", "3")
	var agents []*proc
	for i := range 3 {
		agents = append(agents, startProc(t, fmt.Sprintf("agent-%d", i), "agent", "--listen", freeAddr(t), "--master", addr,
			"--work-dir", filepath.Join(root, fmt.Sprintf("agent-%d", i)), "--hostname", fmt.Sprintf("agent-%d", i),
			"--isolation", "posix", "--resources", "cpus:1;mem:512;disk:1000"))
	}
	petsAddr := freeAddr(t)
	startProc(t, "pets", "pets", "--listen", petsAddr, "--master", addr, "--work-dir", filepath.Join(root, "pets"))
	api := "http://" + petsAddr

	// The checker.
	var most atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if n := int64(len(petProcesses(root, "db-2"))); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(20 * time.Millisecond) // sampling
		}
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	spec := `{"id":"db","instances":3,"podManagementPolicy":"Parallel","cmd":"exec sleep 100000","cpus":0.1,"mem":32,
		"volumes":[{"containerPath":"data","size":10}],"constraints":[["hostname","UNIQUE"]]}`
	waitFor(t, 30*time.Second, "the pets framework to take the set", func() bool {
		resp, err := http.Post(api+"/v1/petsets", "application/json", bytes.NewReader([]byte(spec)))
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusCreated
	})
	var first petStatus
	waitFor(t, 60*time.Second, "three pets ready", func() bool {
		pets := petsOf(t, api, "db")
		first = pets["db-2"]
		return len(pets) == 3 && pets["db-0"].Ready && pets["db-1"].Ready && first.Ready
	})
	var victim *proc
	for i, a := range agents {
		if strings.Contains(tail(a.log, 1000), first.AgentID) {
			victim = agents[i]
		}
	}
	if victim == nil {
		t.Fatalf("no agent's log names db-2's agent %s", first.AgentID)
	}
	victimRoot := filepath.Join(root, victim.name)
	victim.signal(syscall.SIGSTOP)
	waitFor(t, 30*time.Second, "db-2 to be in doubt", func() bool { return petsOf(t, api, "db")["db-2"].Phase == "unknown" })
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) { // watching a window
		if p := petsOf(t, api, "db")["db-2"]; p.Incarnation != first.Incarnation || p.Ready {
			t.Fatalf("db-2 was relaunched while its agent was only stopped: %+v", p)
		}
	}
	// The machine dies for good: its agent and tasks; then the operator
	// says so.
	victim.kill9()
	killSandboxTasks(victimRoot)
	waitFor(t, 10*time.Second, "the dead machine's db-2 to be gone", func() bool { return len(petProcesses(victimRoot, "db-2")) == 0 })
	if status, _, err := operator(addr, &masterpb.Call{Type: masterpb.Call_MARK_AGENT_GONE.Enum(),
		MarkAgentGone: &masterpb.Call_MarkAgentGone{AgentId: &mesospb.AgentID{Value: proto.String(first.AgentID)}}}); err != nil || status != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %d %v", status, err)
	}
	// Two agents for three UNIQUE pets: db-2 waits until a machine is
	// added, then comes back there.
	startProc(t, "agent-3", "agent", "--listen", freeAddr(t), "--master", addr,
		"--work-dir", filepath.Join(root, "agent-3"), "--hostname", "agent-3", "--isolation", "posix", "--resources", "cpus:1;mem:512;disk:1000")
	waitFor(t, 60*time.Second, "db-2 relaunched on the new machine", func() bool {
		p := petsOf(t, api, "db")["db-2"]
		return p.Ready && p.AgentID != first.AgentID && len(petProcesses(root, "db-2")) == 1
	})
	stop.Store(true)
	wg.Wait()
	if n := most.Load(); n != 1 {
		t.Fatalf("up to %d db-2 processes ran at once, want exactly one at a time", n)
	}
}

// A rolling update that loses the master half way (kill -9, restart from
// its registry) and the pets framework too: it resumes, every pet is
// updated exactly once, no pet ever runs twice, and the data is intact.
func TestPetRollingUpdateSurvivesMasterAndFrameworkRestarts(t *testing.T) {
	root := t.TempDir()
	t.Cleanup(func() { killSandboxTasks(root) })
	addr := freeAddr(t)
	master := startProc(t, "master", "master", "--listen", addr, "--work-dir", filepath.Join(root, "master"), "--allocation-interval", "100ms")
	for i := range 3 {
		startProc(t, fmt.Sprintf("agent-%d", i), "agent", "--listen", freeAddr(t), "--master", addr,
			"--work-dir", filepath.Join(root, fmt.Sprintf("agent-%d", i)), "--hostname", fmt.Sprintf("agent-%d", i),
			"--isolation", "posix", "--resources", "cpus:1;mem:512;disk:1000")
	}
	petsAddr := freeAddr(t)
	framework := startProc(t, "pets", "pets", "--listen", petsAddr, "--master", addr, "--work-dir", filepath.Join(root, "pets"))
	api := "http://" + petsAddr

	var most atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, name := range []string{"db-0", "db-1", "db-2"} {
				if n := int64(len(petProcesses(root, name))); n > most.Load() {
					most.Store(n)
				}
			}
			time.Sleep(20 * time.Millisecond) // sampling
		}
	}()
	t.Cleanup(func() { stop.Store(true); wg.Wait() })

	put := func(method, path, body string, want int) {
		t.Helper()
		waitFor(t, 30*time.Second, method+" "+path, func() bool {
			req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == want
		})
	}
	spec := func(version string) string {
		// Ready two seconds after it wrote its log: an update takes a while
		// per pet, so the restarts below land in the middle of one.
		return `{"id":"db","instances":3,"cmd":"echo ` + version + ` >> data/log; exec sleep 100000","cpus":0.1,"mem":32,` +
			`"volumes":[{"containerPath":"data","size":10}],"constraints":[["hostname","UNIQUE"]],` +
			`"readinessChecks":[{"protocol":"COMMAND","command":"test $(( $(date +%s) - $(stat -c %Y data/log) )) -ge 2"}]}`
	}
	put(http.MethodPost, "/v1/petsets", spec("v1"), http.StatusCreated)
	waitFor(t, 60*time.Second, "three pets ready", func() bool {
		p := petsOf(t, api, "db")
		return len(p) == 3 && p["db-0"].Ready && p["db-1"].Ready && p["db-2"].Ready
	})
	put(http.MethodPut, "/v1/petsets/db", spec("v2"), http.StatusOK)
	// Half way: db-2 updated (rolling updates go down from the top).
	waitFor(t, 60*time.Second, "db-2 updated", func() bool {
		p := petsOf(t, api, "db")["db-2"]
		return p.Revision == 2 && p.Ready
	})
	if p := petsOf(t, api, "db")["db-0"]; p.Revision != 1 {
		t.Fatalf("the update reached db-0 (%+v) before the restarts: nothing left to resume", p)
	}
	master.kill9()
	framework.kill9()
	master.start()
	framework.start()
	// A launch whose ACCEPT died with the master never reached its agent:
	// reconciliation finds it gone and the pet is launched once more, so
	// its incarnation may be 3. What must hold is that every pet runs the
	// new revision, one process at a time, and its data saw v2 once.
	waitFor(t, 90*time.Second, "the update to finish after the restarts", func() bool {
		p := petsOf(t, api, "db")
		return len(p) == 3 && p["db-0"].Ready && p["db-1"].Ready && p["db-2"].Ready &&
			p["db-0"].Revision == 2 && p["db-1"].Revision == 2 && p["db-2"].Revision == 2
	})
	stop.Store(true)
	wg.Wait()
	if n := most.Load(); n != 1 {
		t.Fatalf("up to %d processes of one pet ran at once, want one", n)
	}
	// Each pet's volume saw v1 then v2, once each.
	logs, _ := filepath.Glob(filepath.Join(root, "agent-*", "volumes", "roles", "*", "db-*", "log"))
	if len(logs) != 3 {
		t.Fatalf("found %d pet volumes: %v", len(logs), logs)
	}
	for _, l := range logs {
		if b, _ := os.ReadFile(l); string(b) != "v1\nv2\n" {
			t.Errorf("%s holds %q, want v1 then v2", l, b)
		}
	}
}

// `corral dev` as a user runs it: three empty agents, the three bundled
// frameworks subscribed. An app's three instances land on three agents,
// and so does a set of three pets (one machine's loss costs one pet, not
// the quorum).
func TestDevSpreadsPetsAndAppInstancesOverAgents(t *testing.T) {
	root := t.TempDir()
	t.Cleanup(func() { killSandboxTasks(root) })
	petsAddr, serviceAddr := freeAddr(t), freeAddr(t)
	dev := startProc(t, "dev", "dev", "--master-listen", freeAddr(t), "--agent-base-port", "0", "--work-dir", root,
		"--service-listen", serviceAddr, "--pets-listen", petsAddr, "--batch-listen", freeAddr(t), "--dns-listen", "127.0.0.1:0")
	waitFor(t, 60*time.Second, "corral dev to be ready", func() bool { return strings.Contains(tail(dev.log, 100), "corral dev: ready") })
	post := func(url, body string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %s %s", url, resp.Status, b)
		}
	}

	post("http://"+serviceAddr+"/v2/apps", `{"id":"/web","instances":3,"cmd":"exec sleep 100000","cpus":0.1,"mem":32}`)
	hosts := map[string]int{}
	waitFor(t, 60*time.Second, "three instances running", func() bool {
		resp, err := http.Get("http://" + serviceAddr + "/v2/apps/web/tasks")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			Tasks []struct{ Host, State string }
		}
		if json.NewDecoder(resp.Body).Decode(&v) != nil {
			return false
		}
		clear(hosts)
		running := 0
		for _, task := range v.Tasks {
			if task.State == "TASK_RUNNING" {
				running++
				hosts[task.Host]++
			}
		}
		return running == 3
	})
	if len(hosts) != 3 {
		t.Errorf("the app's instances run on %v, want 3 hosts", hosts)
	}

	post("http://"+petsAddr+"/v1/petsets", `{"id":"db","instances":3,"cmd":"exec sleep 100000","cpus":0.1,"mem":32,
		"volumes":[{"containerPath":"data","size":10}]}`)
	var pets map[string]petStatus
	waitFor(t, 60*time.Second, "three pets ready", func() bool {
		pets = petsOf(t, "http://"+petsAddr, "db")
		return len(pets) == 3 && pets["db-0"].Ready && pets["db-1"].Ready && pets["db-2"].Ready
	})
	agents := map[string]bool{}
	for _, p := range pets {
		agents[p.AgentID] = true
	}
	if len(agents) != 3 {
		t.Errorf("pets %+v on %d agents, want 3", pets, len(agents))
	}
}
