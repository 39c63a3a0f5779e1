package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/test/cluster/history"
)

// Operator sends an operator call to master m from the observer's node
// (no redirects followed) and returns the HTTP status and the response.
func (c *Cluster) Operator(m *Node, call *masterpb.Call) (int, *masterpb.Response, error) {
	return operatorCall(c.observerClient(), m.Addr, call)
}

var (
	clientsMu sync.Mutex
	clients   = map[*Netns]*http.Client{}
)

// clientOf returns the namespace's shared HTTP client.
func clientOf(ns *Netns) *http.Client {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	cl, ok := clients[ns]
	if !ok {
		cl = ns.HTTPClient(5 * time.Second)
		clients[ns] = cl
	}
	return cl
}

func (c *Cluster) observerClient() *http.Client { return clientOf(c.Observer) }

// forgetClients closes the shared clients of namespaces about to go.
func forgetClients(nss []*Netns) {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	for _, ns := range nss {
		if cl, ok := clients[ns]; ok {
			cl.CloseIdleConnections()
			delete(clients, ns)
		}
	}
}

func operatorCall(client *http.Client, addr string, call *masterpb.Call) (int, *masterpb.Response, error) {
	body, err := codec.JSON.Marshal(call)
	if err != nil {
		return 0, nil, err
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(b) == 0 {
		return resp.StatusCode, nil, err
	}
	out := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("cluster: decoding %v: %w", call.GetType(), err)
	}
	return resp.StatusCode, out, nil
}

// Call makes an operator call of type t with no arguments.
func Call(t masterpb.Call_Type) *masterpb.Call { return &masterpb.Call{Type: t.Enum()} }

// Leader returns the master that answers operator calls itself, or nil.
func (c *Cluster) Leader() *Node {
	for _, m := range c.Masters {
		if !m.proc.running() || m.proc.isPaused() {
			continue
		}
		if status, _, err := c.Operator(m, Call(masterpb.Call_GET_HEALTH)); err == nil && status == http.StatusOK {
			return m
		}
	}
	return nil
}

// LeaderCall sends call to the leader, waiting up to d for one.
func (c *Cluster) LeaderCall(d time.Duration, call *masterpb.Call) (*masterpb.Response, error) {
	var resp *masterpb.Response
	var last error
	ok := Poll(d, func() bool {
		m := c.Leader()
		if m == nil {
			last = errors.New("no leader")
			return false
		}
		status, r, err := c.Operator(m, call)
		if err != nil || status != http.StatusOK {
			last = fmt.Errorf("%v: HTTP %d %v", call.GetType(), status, err)
			return false
		}
		resp = r
		return true
	})
	if !ok {
		return nil, fmt.Errorf("cluster: %w", last)
	}
	return resp, nil
}

// WaitAgents waits until the leader counts n active agents.
func (c *Cluster) WaitAgents(n int, d time.Duration) {
	c.t.Helper()
	c.WaitFor(d, fmt.Sprintf("%d active agents", n), func() bool { return c.ActiveAgents() == n })
}

// ActiveAgents is how many agents the leader has active, -1 without one.
func (c *Cluster) ActiveAgents() int {
	resp, err := c.LeaderCall(0, Call(masterpb.Call_GET_AGENTS))
	if err != nil {
		return -1
	}
	n := 0
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetActive() {
			n++
		}
	}
	return n
}

// AgentID is the ID the leader knows agent by (its hostname), or "".
func (c *Cluster) AgentID(agent *Node) string {
	resp, err := c.LeaderCall(10*time.Second, Call(masterpb.Call_GET_AGENTS))
	if err != nil {
		return ""
	}
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetAgentInfo().GetHostname() == agent.Name {
			return a.GetAgentInfo().GetId().GetValue()
		}
	}
	return ""
}

// MasterTaskStates is every task's state as the leader reports it,
// unreachable and completed ones included.
func (c *Cluster) MasterTaskStates() (map[string]string, error) {
	resp, err := c.LeaderCall(10*time.Second, Call(masterpb.Call_GET_TASKS))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	tasks := resp.GetGetTasks()
	for _, list := range [][]*mesospb.Task{tasks.GetCompletedTasks(), tasks.GetUnreachableTasks(), tasks.GetTasks()} {
		for _, t := range list {
			out[t.GetTaskId().GetValue()] = t.GetState().String()
		}
	}
	return out, nil
}

// prober asks every master, ten times a second, whether it leads: the
// history's evidence of who accepted calls when.
type prober struct {
	c    *Cluster
	quit chan struct{}
	wg   sync.WaitGroup
}

const probePeriod = 100 * time.Millisecond

func startProber(c *Cluster) *prober {
	p := &prober{c: c, quit: make(chan struct{})}
	for _, m := range c.Masters {
		p.wg.Add(1)
		go p.loop(m)
	}
	return p
}

func (p *prober) loop(m *Node) {
	defer p.wg.Done()
	client := m.c.Observer.HTTPClient(time.Second)
	defer client.CloseIdleConnections()
	last := -1
	for {
		sent := time.Now()
		status, _, err := operatorCall(client, m.Addr, Call(masterpb.Call_GET_HEALTH))
		received := time.Now()
		if err != nil {
			status = 0
		}
		// Every answer as leader counts; other answers only as changes.
		if status == http.StatusOK || status != last {
			e := history.Event{Kind: history.Answer, Node: m.Addr, Status: status, Sent: sent, Time: received}
			if err != nil {
				e.Detail = shortErr(err)
			}
			p.c.rec.Record(e)
		}
		last = status
		select {
		case <-p.quit:
			return
		case <-time.After(time.Until(sent.Add(probePeriod))):
		}
	}
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	}
	return err.Error()
}

func (p *prober) stop() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	p.wg.Wait()
}

// HTTP sends a request from the observer's node and returns the status
// and the body.
func (c *Cluster) HTTP(method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.observerClient().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Client is the observer node's HTTP client (no redirects followed).
func (c *Cluster) Client() *http.Client { return c.observerClient() }
