package faults

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/test/cluster"
)

// updateWeight is an operator call that writes the registry.
func updateWeight(role string, weight float64) string {
	return fmt.Sprintf(`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":%q,"weight":%g}]}}`, role, weight)
}

// The leader is paused (SIGSTOP) past its ZooKeeper session, as a long
// GC or a frozen VM would: a successor is elected and writes the registry
// (agents, the framework, an operator's weight). Operators' writes queue
// up at the paused master; when it resumes it handles them believing it
// still leads. ZooKeeper's own log must show no registry write from it
// after its successor was elected, and no answer as leader once its
// successor has answered.
func TestPausedLeaderWritesNothingAfterItsSuccessor(t *testing.T) {
	c := cluster.Start(t, options(cluster.Options{ZooKeepers: 3, Masters: 2, Agents: 2}))
	f := runningFleet(t, c, 6)
	old := c.Leader()
	c.Pause(old)
	var successor *cluster.Node
	c.WaitFor(60*time.Second, "another master to lead", func() bool {
		successor = c.Leader()
		return successor != nil && successor != old
	})
	c.WaitAgents(2, 60*time.Second)
	if status, body, err := c.HTTP(http.MethodPost, "http://"+successor.Addr+"/api/v1", updateWeight("web", 2)); err != nil || status != http.StatusOK {
		t.Fatalf("a weight through the successor: %d %s %v", status, body, err)
	}
	f.Launch(taskIDs("late", 3)...)
	c.WaitFor(60*time.Second, "the late tasks running", func() bool { return f.Count("TASK_RUNNING") == 9 })

	// Writes wait in the paused master's listen queue.
	var written, answered sync.WaitGroup
	statuses := make([]string, 6)
	for i := range statuses {
		written.Add(1)
		answered.Add(1)
		go func() {
			defer answered.Done()
			statuses[i] = queuedWrite(c, old, written.Done)
		}()
	}
	written.Wait()
	c.Resume(old)
	answered.Wait()
	t.Logf("the resumed master answered the queued writes: %v", statuses)
	c.WaitFor(30*time.Second, "the resumed master to follow", func() bool { return c.Leader() == successor })
	c.Settle(f, 60*time.Second)
	finish(t, c)
}

// queuedWrite sends a registry write to master m and returns how it was
// answered; written is called once the request is on the wire.
func queuedWrite(c *cluster.Cluster, m *cluster.Node, written func()) string {
	var once sync.Once
	defer once.Do(written) // failed before writing: do not hold the test up
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.Addr+"/api/v1", strings.NewReader(updateWeight("web", 9)))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(written) }}))
	client := *c.Client()
	client.Timeout = 60 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}
