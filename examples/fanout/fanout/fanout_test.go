package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/examples/fanout/fanout"
	"github.com/corral-sched/corral/frameworks/sdk/sdktest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// run runs a job on the cluster in the background.
func run(t *testing.T, c *sdktest.Cluster, cfg fanout.Config) (*fanout.Job, func() ([]string, error)) {
	t.Helper()
	cfg.Master, cfg.Logger = c.MasterAddr, slog.New(slog.DiscardHandler)
	job, err := fanout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	var (
		once    sync.Once
		outputs []string
		runErr  error
	)
	done := make(chan struct{})
	go func() { outputs, runErr = job.Run(ctx); close(done) }()
	return job, func() ([]string, error) {
		once.Do(func() { <-done })
		return outputs, runErr
	}
}

func attempts(c *sdktest.Cluster) map[string][]string {
	out := map[string][]string{} // shard name → agent of each attempt
	for _, task := range c.Launched(c.FrameworkID("fanout")) {
		out[task.GetName()] = append(out[task.GetName()], task.GetAgentId().GetValue())
	}
	return out
}

// Every shard's output comes back, in shard order; the status page shows
// the job done; unused offers were declined with a filter and the idle
// job suppressed offers.
func TestOutputsAreCollectedInShardOrder(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 3})
	job, wait := run(t, c, fanout.Config{Shards: 6, Command: `echo "shard $SHARD of $SHARDS"`})
	outputs, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range outputs {
		if want := fmt.Sprintf("shard %d of 6\n", i); out != want {
			t.Errorf("shard %d's output is %q, want %q", i, out, want)
		}
	}
	if n := len(c.Launched(c.FrameworkID("fanout"))); n != 6 {
		t.Errorf("%d tasks launched, want 6", n)
	}
	for _, d := range c.Declines(c.FrameworkID("fanout")) {
		if d.Refuse() < time.Minute {
			t.Errorf("an offer declined for %v only", d.Refuse())
		}
	}
	if len(c.Calls(c.FrameworkID("fanout"), schedulerpb.Call_SUPPRESS)) == 0 {
		t.Error("the idle job never suppressed offers")
	}

	page := httptest.NewServer(job.Handler())
	defer page.Close()
	var st fanout.Status
	if err := json.Unmarshal(get(t, page.URL+"/status"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Counts[fanout.Finished] != 6 || len(st.Shards) != 6 || st.Shards[2].Output != "shard 2 of 6\n" {
		t.Errorf("status %+v, want 6 finished shards with their outputs", st)
	}
	if html := string(get(t, page.URL+"/")); !strings.Contains(html, "6 finished") || !strings.Contains(html, "shard 5 of 6") {
		t.Errorf("the status page does not show the finished job:\n%s", html)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// A shard that fails is tried again on another agent, and succeeds there.
func TestAFailedShardIsRetriedOnAnotherAgent(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	mark := filepath.Join(t.TempDir(), "failed-once")
	cmd := fmt.Sprintf(`if [ "$SHARD" = 1 ] && [ ! -e %[1]s ]; then touch %[1]s; exit 3; fi; echo ok`, mark)
	_, wait := run(t, c, fanout.Config{Shards: 3, Command: cmd})
	outputs, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(outputs, "") != "ok\nok\nok\n" {
		t.Fatalf("outputs %q", outputs)
	}
	if agents := attempts(c)["shard 1"]; len(agents) != 2 || agents[0] == agents[1] {
		t.Fatalf("shard 1 ran on %v, want twice, on two agents", agents)
	}
}

// A shard that fails every time fails the job, which says so and stops.
func TestAShardFailingEveryTimeFailsTheJob(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	job, wait := run(t, c, fanout.Config{Shards: 2, Retries: 1, Command: `[ "$SHARD" = 0 ] && exit 7; sleep 600`})
	_, err := wait()
	if err == nil || !strings.Contains(err.Error(), "shard 0 failed 2 times") {
		t.Fatalf("Run = %v, want shard 0 to have failed twice", err)
	}
	if st := job.Status(); st.Error == "" || st.Shards[0].State != fanout.Failed {
		t.Fatalf("status %+v, want the failure shown", st)
	}
	sdktest.Eventually(t, "the other shard killed with the framework", func() bool {
		tasks, err := c.Tasks(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.GetName() == "shard 1" && task.GetState() != mesospb.TaskState_TASK_KILLED {
				return false
			}
		}
		return true
	})
}

// Lost updates (the agent sends them again), a master failover and a
// partitioned agent: every shard's output arrives once, and only the
// partitioned agent's shard runs a second time.
func TestFaultsCostNoOutput(t *testing.T) {
	c := sdktest.Start(t, sdktest.Options{Agents: 2})
	dropped := map[string]bool{}
	var mu sync.Mutex
	// The first update of each task the agent sends is lost; it sends it
	// again. (Updates from the master itself carry no uuid and are not
	// sent again: a framework that lost one learns it by reconciling.)
	c.DropUpdates(func(st *mesospb.TaskStatus) bool {
		mu.Lock()
		defer mu.Unlock()
		first := len(st.GetUuid()) > 0 && !dropped[st.GetTaskId().GetValue()]
		dropped[st.GetTaskId().GetValue()] = true
		return first
	})
	gate := filepath.Join(t.TempDir(), "gate")
	cmd := fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.05; done; echo "$SHARD"`, gate)
	_, wait := run(t, c, fanout.Config{Shards: 4, Command: cmd})
	id := ""
	sdktest.Eventually(t, "every shard running, its lost update sent again", func() bool {
		id = c.FrameworkID("fanout")
		for i := range 4 {
			if s, _ := c.LastState(id, fmt.Sprintf("shard-%d.1", i)); s != mesospb.TaskState_TASK_RUNNING {
				return false
			}
		}
		return true
	})
	if err := c.FailOver(); err != nil {
		t.Fatal(err)
	}
	partitioned := -1
	for i, a := range c.Agents {
		if a.ID() == c.Launched(id)[0].GetAgentId().GetValue() {
			partitioned = i
		}
	}
	c.Partition(partitioned)
	sdktest.Eventually(t, "the partitioned agent's shards running again elsewhere", func() bool { return len(c.Launched(id)) > 4 })
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outputs, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(outputs, ""); got != "0\n1\n2\n3\n" {
		t.Fatalf("outputs %q, want each shard's once", got)
	}
	for shard, agents := range attempts(c) {
		if len(agents) > 2 {
			t.Errorf("%s ran %d times", shard, len(agents))
		}
	}
}
