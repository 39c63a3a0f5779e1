package system

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// serviceProc is one `corral service` process of an HA pair.
type serviceProc struct {
	p   *proc
	url string
}

// leads reports whether the instance serves the API itself (a standby
// answers /health with "leader":false).
func (s *serviceProc) leads() bool {
	resp, err := http.Get(s.url + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b), "framework_id") && !strings.Contains(string(b), `"leader":false`)
}

// answers reports whether the instance serves HTTP at all.
func (s *serviceProc) answers() bool {
	resp, err := http.Get(s.url + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

type appTasks struct {
	Tasks []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"tasks"`
}

func (s *serviceProc) running(t *testing.T, app string) []string {
	resp, err := http.Get(s.url + "/v2/apps/" + app + "/tasks")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var v appTasks
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return nil
	}
	var ids []string
	for _, task := range v.Tasks {
		if task.State == "TASK_RUNNING" {
			ids = append(ids, task.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func send(t *testing.T, method, url, body string, want int) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
}

// Two `corral service` instances under ZooKeeper: the standby redirects,
// the leader's kill -9 hands the app to the standby, and then the leading
// master's kill -9 too. Through both failovers the same task processes
// keep running: nothing is killed or launched twice.
func TestServiceFrameworkSurvivesItsLeadersAndTheMastersDeath(t *testing.T) {
	c := startHACluster(t, 2, 2)
	url := c.zk.URL("/corral")
	var services []*serviceProc
	for i := range 2 {
		addr := freeAddr(t)
		services = append(services, &serviceProc{url: "http://" + addr, p: startProc(t, fmt.Sprintf("service-%d", i), "service",
			"--listen", addr, "--zk", url, "--zk-session-timeout", zkSessionTimeout, "--log-level", "debug")})
	}
	var leader, standby *serviceProc
	waitFor(t, 60*time.Second, "a leading service instance and a standby", func() bool {
		for i, s := range services {
			if s.leads() && services[1-i].answers() {
				leader, standby = s, services[1-i]
				return true
			}
		}
		return false
	})
	// Through the standby: the client follows its redirect to the leader.
	send(t, "POST", standby.url+"/v2/apps", `{"id":"/ha","cmd":"sleep 300","cpus":0.1,"mem":16,"instances":4}`, http.StatusCreated)
	var tasks []string
	waitFor(t, 60*time.Second, "four instances running", func() bool {
		tasks = leader.running(t, "ha")
		return len(tasks) == 4
	})
	var pids []int
	waitFor(t, 30*time.Second, "four sleep processes", func() bool {
		pids = sandboxTasks(c.root, "sleep")
		return len(pids) == 4
	})

	leader.p.kill9()
	waitFor(t, 60*time.Second, "the standby to lead with the same four instances", func() bool {
		return standby.leads() && slices.Equal(standby.running(t, "ha"), tasks)
	})

	old := c.leader()
	if old < 0 {
		t.Fatal("no leading master")
	}
	c.masters[old].kill9()
	waitFor(t, 60*time.Second, "the other master to lead", func() bool {
		l := c.leader()
		return l >= 0 && l != old
	})
	// Scaling needs offers from the new master: the deployment finishing
	// shows the framework re-subscribed with its tasks accounted for.
	send(t, "PUT", standby.url+"/v2/apps/ha", `{"instances":5}`, http.StatusOK)
	waitFor(t, 60*time.Second, "five instances running", func() bool { return len(standby.running(t, "ha")) == 5 })
	now := standby.running(t, "ha")
	for _, id := range tasks {
		if !slices.Contains(now, id) {
			t.Fatalf("instance %s is gone after the failovers: %v", id, now)
		}
	}
	var after []int
	waitFor(t, 30*time.Second, "five sleep processes", func() bool {
		after = sandboxTasks(c.root, "sleep")
		return len(after) >= 5
	})
	for _, pid := range pids {
		if !slices.Contains(after, pid) {
			t.Fatalf("process %d died in the failovers (before %v, after %v)", pid, pids, after)
		}
	}
	if len(after) != 5 {
		t.Fatalf("%d sleep processes after scaling to 5: %v", len(after), after)
	}

}
