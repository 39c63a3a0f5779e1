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

// connectedFrameworks counts the frameworks called name the leading
// master knows as connected.
func connectedFrameworks(c *haCluster, name string) int {
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
		if f.GetFrameworkInfo().GetName() == name && f.GetConnected() {
			n++
		}
	}
	return n
}

// frameworkHACase is one bundled framework in the HA table: what to
// create through a standby, and what of it runs as an instance serves it.
type frameworkHACase struct {
	name   string
	create [][3]string // method, path, body; each answered 201
	// running describes what runs of what was created, as inst serves it
	// ("" until it all runs). It names tasks by ID or incarnation, so
	// that a relaunch after the failover shows.
	running func(t *testing.T, inst *serviceProc) string
}

var frameworkHACases = []frameworkHACase{
	{
		name:   "service",
		create: [][3]string{{"POST", "/v2/apps", `{"id":"/ha","cmd":"sleep 300","cpus":0.1,"mem":16,"instances":1}`}},
		running: func(t *testing.T, inst *serviceProc) string {
			if ids := inst.running(t, "ha"); len(ids) == 1 {
				return ids[0]
			}
			return ""
		},
	},
	{
		name:   "pets",
		create: [][3]string{{"POST", "/v1/petsets", `{"id":"db","instances":1,"cmd":"exec sleep 300","cpus":0.1,"mem":16}`}},
		running: func(t *testing.T, inst *serviceProc) string {
			if p, ok := petsOf(t, inst.url, "db")["db-0"]; ok && p.Ready {
				return fmt.Sprintf("db-0 incarnation %d on %s", p.Incarnation, p.AgentID)
			}
			return ""
		},
	},
	{
		name: "batch",
		create: [][3]string{{"POST", "/v1/jobs", `{"id":"long","cmd":"sleep 300","cpus":0.1,"mem":16}`},
			{"POST", "/v1/jobs/long/trigger", ``}},
		running: func(_ *testing.T, inst *serviceProc) string {
			if st, running := runningRun(inst, "long"); st == "running" && running == 1 {
				return "long's run"
			}
			return ""
		},
	},
}

// Two instances of each bundled framework under ZooKeeper: one leads and
// acts, the other stands by (batch's used to register and act as well, so
// a run could be launched twice); the leader's kill -9 hands what it ran
// to the standby, whose term serves it from the shared state and adopts
// its task instead of launching another. The frameworks take turns on one
// cluster.
func TestFrameworksRunOneLeaderAndSurviveItsKill(t *testing.T) {
	c := startHACluster(t, 1, 1)
	url := c.zk.URL("/corral")
	for _, tc := range frameworkHACases {
		t.Run(tc.name, func(t *testing.T) {
			earlier := sandboxTasks(c.root, "sleep") // the previous frameworks'
			var insts []*serviceProc                 // every framework answers /health as the service does
			for i := range 2 {
				addr := freeAddr(t)
				insts = append(insts, &serviceProc{url: "http://" + addr, p: startProc(t, fmt.Sprintf("%s-%d", tc.name, i), tc.name,
					"--listen", addr, "--zk", url, "--zk-session-timeout", zkSessionTimeout, "--log-level", "debug")})
			}
			var leader, standby *serviceProc
			waitFor(t, 60*time.Second, "a leading instance and a standby", func() bool {
				for i, s := range insts {
					if s.leads() && insts[1-i].answers() && !insts[1-i].leads() {
						leader, standby = s, insts[1-i]
						return true
					}
				}
				return false
			})
			// Through the standby: the client follows its redirect.
			for _, req := range tc.create {
				send(t, req[0], standby.url+req[1], req[2], http.StatusCreated)
			}
			var pids []int
			var before string
			waitFor(t, 60*time.Second, "its task running", func() bool {
				pids = newTasks(c.root, earlier)
				before = tc.running(t, leader)
				return len(pids) == 1 && before != ""
			})
			if n := connectedFrameworks(c, tc.name); n != 1 {
				t.Fatalf("the master knows %d connected %s frameworks, want the leader's alone", n, tc.name)
			}

			leader.p.kill9()
			var after string
			waitFor(t, 60*time.Second, "the standby to lead with the same task running", func() bool {
				after = tc.running(t, standby)
				return standby.leads() && after != "" && connectedFrameworks(c, tc.name) == 1
			})
			if after != before {
				t.Fatalf("after the failover the standby serves %q, want %q as before", after, before)
			}
			if now := newTasks(c.root, earlier); !slices.Equal(now, pids) {
				t.Fatalf("sleep processes %v after the failover, want the same one %v: the task was launched again", now, pids)
			}
			standby.p.stop() // leave the cluster's resources to the next framework
		})
	}
}

// newTasks lists the sandboxes' sleep processes that are not in earlier.
func newTasks(root string, earlier []int) []int {
	return slices.DeleteFunc(sandboxTasks(root, "sleep"), func(pid int) bool { return slices.Contains(earlier, pid) })
}
