package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corral-sched/corral/test/cluster/history"
)

// defaultWait bounds the harness's own waits.
const defaultWait = 30 * time.Second

// Procs says how many live processes of identity the agents run now.
func (c *Cluster) Procs(identity string) int { return c.sampler.count(identity) }

// TasksOn lists the tasks with a live process on agent.
func (c *Cluster) TasksOn(agent *Node) []string { return c.sampler.tasksOn(agent) }

// Final records identity's final state: as its framework says, as the
// master says ("" if it does not know it), and its live processes now.
func (c *Cluster) Final(identity, framework, master string) {
	c.rec.Record(history.Event{Kind: history.Final, Task: identity, State: framework, Source: master, PID: c.Procs(identity)})
}

// Observed is one task as its framework reports it: what may run only
// once (Identity), its current task, and its state.
type Observed struct {
	Identity, TaskID, State string
}

// SettleObserved waits up to d for every task a framework reports
// (observe, asked again each time) to settle: running with one process
// and the master agreeing, or ended with none. Then it records each one's
// final state, settled or not: the checker says what did not.
func (c *Cluster) SettleObserved(d time.Duration, observe func() []Observed) {
	c.t.Helper()
	var tasks []Observed
	var master map[string]string
	why := "the master did not answer"
	settled := Poll(d, func() bool {
		m, err := c.MasterTaskStates()
		if err != nil {
			return false
		}
		tasks, master = observe(), m
		for _, t := range tasks {
			if why = history.Unsettled(t.Identity, t.State, m[t.TaskID], c.Procs(t.Identity)); why != "" {
				return false
			}
		}
		return true
	})
	if !settled {
		c.t.Logf("the tasks did not settle within %v (last: %s); the checker says how", d, why)
	}
	for _, t := range tasks {
		c.Final(t.Identity, t.State, master[t.TaskID])
	}
}

// Settle settles the fleet's tasks (see SettleObserved), asking the
// master to reconcile them now and then.
func (c *Cluster) Settle(f *Fleet, d time.Duration) {
	c.t.Helper()
	asked := time.Time{}
	c.SettleObserved(d, func() []Observed {
		if time.Since(asked) > 2*time.Second {
			_ = f.Reconcile()
			asked = time.Now()
		}
		var out []Observed
		for _, id := range f.Tasks() {
			out = append(out, Observed{Identity: c.opts.Identity(id), TaskID: id, State: f.State(id)})
		}
		return out
	})
}

// Check stops observing, adds ZooKeeper's transaction log to the history,
// runs the checker and keeps the history and the report next to the
// nodes' logs.
func (c *Cluster) Check() history.Report {
	c.t.Helper()
	c.prober.stop()
	c.sampler.scan()
	c.sampler.stop()
	events, err := c.zkEvents()
	if err != nil {
		c.t.Fatalf("reading ZooKeeper's transaction logs: %v", err)
	}
	for _, e := range events {
		c.rec.Record(e)
	}
	all := c.rec.Events()
	r := history.Check(all)
	if f, err := os.Create(filepath.Join(c.dir, "history.jsonl")); err == nil {
		_ = history.WriteJSON(f, all)
		f.Close()
	}
	_ = os.WriteFile(filepath.Join(c.dir, "report.txt"), []byte(r.String()), 0o644)
	c.checked = true
	c.t.Logf("checker: %d operations checked, %d anomalies (%d ZooKeeper transactions of the election and registry)",
		r.Operations, len(r.Anomalies), len(events))
	return r
}

// MustCheck fails the test on any anomaly, printing the report.
func (c *Cluster) MustCheck() history.Report {
	c.t.Helper()
	r := c.Check()
	if !r.OK() {
		c.t.Fatalf("the history violates corral's guarantees:\n%s", r)
	}
	return r
}

// Describe names a node list for messages.
func Describe(nodes ...*Node) string { return fmt.Sprintf("{%s}", names(nodes)) }
