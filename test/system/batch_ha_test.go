package system

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/corral-sched/corral/proto/masterpb"
)

// runningRun reports the status and running-task count of job's latest
// run as inst sees it ("" when it answers nothing).
func runningRun(inst *serviceProc, job string) (status string, running int) {
	resp, err := http.Get(inst.url + "/v1/jobs/" + job + "/runs")
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	var runs []struct {
		Status  string `json:"status"`
		Running int    `json:"running"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&runs) != nil || len(runs) == 0 {
		return "", 0
	}
	return runs[0].Status, runs[0].Running
}

// batchFrameworks counts the frameworks named batch the leading master
// knows as connected.
func batchFrameworks(c *haCluster) int {
	l := c.leader()
	if l < 0 {
		return -1
	}
	_, resp, err := operator(c.masterAddrs[l], call(masterpb.Call_GET_FRAMEWORKS))
	if err != nil {
		return -1
	}
	n := 0
	for _, f := range resp.GetGetFrameworks().GetFrameworks() {
		if f.GetFrameworkInfo().GetName() == "batch" && f.GetConnected() {
			n++
		}
	}
	return n
}

// Two `corral batch` instances under ZooKeeper: one leads and runs jobs,
// the other stands by (it used to register and act as well, so a run
// could be launched twice); the leader's kill -9 hands the running job to
// the standby, whose term adopts its task instead of launching another.
func TestBatchFrameworkRunsOneLeaderAndSurvivesItsKill(t *testing.T) {
	c := startHACluster(t, 1, 1)
	url := c.zk.URL("/corral")
	var insts []*serviceProc // a batch instance answers /health as a service one does
	for i := range 2 {
		addr := freeAddr(t)
		insts = append(insts, &serviceProc{url: "http://" + addr, p: startProc(t, fmt.Sprintf("batch-%d", i), "batch",
			"--listen", addr, "--zk", url, "--zk-session-timeout", zkSessionTimeout, "--log-level", "debug")})
	}
	var leader, standby *serviceProc
	waitFor(t, 60*time.Second, "a leading batch instance and a standby", func() bool {
		for i, s := range insts {
			if s.leads() && insts[1-i].answers() && !insts[1-i].leads() {
				leader, standby = s, insts[1-i]
				return true
			}
		}
		return false
	})
	// Through the standby: the client follows its redirect.
	send(t, "POST", standby.url+"/v1/jobs", `{"id":"long","cmd":"sleep 300","cpus":0.1,"mem":16}`, http.StatusCreated)
	send(t, "POST", standby.url+"/v1/jobs/long/trigger", ``, http.StatusCreated)
	var pids []int
	waitFor(t, 60*time.Second, "the run's task running", func() bool {
		pids = sandboxTasks(c.root, "sleep")
		st, running := runningRun(leader, "long")
		return len(pids) == 1 && st == "running" && running == 1
	})
	if n := batchFrameworks(c); n != 1 {
		t.Fatalf("the master knows %d connected batch frameworks, want the leader's alone", n)
	}

	leader.p.kill9()
	waitFor(t, 60*time.Second, "the standby to lead with the run still running", func() bool {
		st, running := runningRun(standby, "long")
		return standby.leads() && st == "running" && running == 1 && batchFrameworks(c) == 1
	})
	if now := sandboxTasks(c.root, "sleep"); !slices.Equal(now, pids) {
		t.Fatalf("sleep processes %v after the failover, want the same one %v: the run was launched again", now, pids)
	}
}
