package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/corral-sched/corral/test/cluster/history"
)

// faultChain holds a node's fault rules; its INPUT jumps to it. Every
// rule drops what the node receives, so a node's own view decides what it
// hears: cutting a→b is a rule on b.
const faultChain = "CORRAL-FAULTS"

// ErrNoNetem means the kernel has no netem queueing discipline
// (CONFIG_NET_SCH_NETEM), so delay and reordering cannot be injected;
// loss still can (Lossy uses iptables).
var ErrNoNetem = errors.New("cluster: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM): delay and reordering are unavailable")

func names(nodes []*Node) string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ",")
}

func (c *Cluster) record(kind history.Kind, nodes []*Node, detail string) {
	c.rec.Record(history.Event{Kind: kind, Node: names(nodes), Detail: detail})
	c.t.Logf("%s: %s", kind, detail)
}

// drop makes at lose every packet from src.
func (c *Cluster) drop(at, src *Node) {
	c.t.Helper()
	if err := at.iptables("-A", faultChain, "-s", src.IP, "-j", "DROP"); err != nil {
		c.t.Fatalf("%v", err)
	}
}

// Partition cuts every node of a off from every node of b, both ways.
func (c *Cluster) Partition(a, b []*Node) {
	c.t.Helper()
	c.record(history.Fault, append(append([]*Node(nil), a...), b...), fmt.Sprintf("partition {%s} from {%s}", names(a), names(b)))
	for _, x := range a {
		for _, y := range b {
			c.drop(x, y)
			c.drop(y, x)
		}
	}
}

// OneWay makes every node of to stop hearing every node of from, while
// from still hears to. Over TCP that leaves from receiving what to sends
// on connections already open, and no new connection from either side.
func (c *Cluster) OneWay(from, to []*Node) {
	c.t.Helper()
	c.record(history.Fault, append(append([]*Node(nil), from...), to...), fmt.Sprintf("one-way: {%s} no longer hear {%s}", names(to), names(from)))
	for _, x := range to {
		for _, y := range from {
			c.drop(x, y)
		}
	}
}

// Lossy makes each node drop percent of the packets it receives on the
// bridge; a conversation between two lossy nodes loses some both ways.
func (c *Cluster) Lossy(nodes []*Node, percent int) {
	c.t.Helper()
	c.record(history.Fault, nodes, fmt.Sprintf("%d%% loss on {%s}", percent, names(nodes)))
	p := fmt.Sprintf("%.3f", float64(percent)/100)
	for _, n := range nodes {
		if err := n.iptables("-A", faultChain, "-i", "eth0", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"); err != nil {
			c.t.Fatalf("%v", err)
		}
	}
}

var (
	netemOnce sync.Once
	netemErr  error
)

// NetemAvailable says whether delay and reordering can be injected here:
// ErrNoNetem if the kernel lacks netem.
func (c *Cluster) NetemAvailable() error {
	netemOnce.Do(func() {
		if err := c.Observer.run("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
			netemErr = fmt.Errorf("%w (%v)", ErrNoNetem, err)
			return
		}
		_ = c.Observer.run("tc", "qdisc", "del", "dev", "lo", "root")
	})
	return netemErr
}

// Netem shapes what each node sends with tc netem (args as tc takes
// them: "delay", "100ms", "20ms", "reorder", "25%"...).
func (c *Cluster) Netem(nodes []*Node, args ...string) error {
	if err := c.NetemAvailable(); err != nil {
		return err
	}
	c.record(history.Fault, nodes, fmt.Sprintf("netem %s on {%s}", strings.Join(args, " "), names(nodes)))
	for _, n := range nodes {
		if err := n.run("tc", append([]string{"qdisc", "replace", "dev", "eth0", "root", "netem"}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// HealNetwork removes every network fault.
func (c *Cluster) HealNetwork() {
	c.t.Helper()
	for _, n := range c.net.Nodes() {
		if err := n.iptables("-F", faultChain); err != nil {
			c.t.Fatalf("%v", err)
		}
		if c.NetemAvailable() == nil {
			_ = n.run("tc", "qdisc", "del", "dev", "eth0", "root") // fails when there is none
		}
	}
	c.record(history.Heal, nil, "network healed")
}

// Heal removes every network fault and resumes every paused process.
func (c *Cluster) Heal() {
	c.t.Helper()
	c.HealNetwork()
	for _, n := range c.nodes {
		if n.proc != nil && n.proc.isPaused() {
			c.Resume(n)
		}
	}
}

// Pause stops the node's daemon (SIGSTOP): it neither runs nor answers,
// and resumes where it was.
func (c *Cluster) Pause(n *Node) {
	c.t.Helper()
	c.record(history.Fault, []*Node{n}, "pause "+n.Name)
	if err := n.proc.signal(syscall.SIGSTOP); err != nil {
		c.t.Fatalf("%v", err)
	}
}

// Resume continues a paused daemon (SIGCONT).
func (c *Cluster) Resume(n *Node) {
	c.t.Helper()
	if err := n.proc.signal(syscall.SIGCONT); err != nil {
		c.t.Fatalf("%v", err)
	}
	c.record(history.Heal, []*Node{n}, "resume "+n.Name)
}

// Kill9 kills the node's daemon as a crash would (an agent's tasks live
// on, as they do when only the agent dies).
func (c *Cluster) Kill9(n *Node) {
	c.t.Helper()
	c.record(history.Fault, []*Node{n}, "kill -9 "+n.Name)
	n.proc.kill9()
}

// Restart starts a killed or stopped daemon again with its command line.
func (c *Cluster) Restart(n *Node) {
	c.t.Helper()
	if n.proc.running() {
		n.proc.kill9()
	}
	if err := n.proc.start(); err != nil {
		c.t.Fatalf("%v", err)
	}
	c.record(history.Heal, []*Node{n}, "start "+n.Name)
}

// Crash kills an agent's machine: the agent and every process of its
// tasks. The history says so before anything dies, so that the ends it
// causes are explained.
func (c *Cluster) Crash(agent *Node) {
	c.t.Helper()
	c.rec.Record(history.Event{Kind: history.Crash, Node: agent.Name, Detail: "machine " + agent.Name + " dies"})
	c.t.Logf("crash: %s", agent.Name)
	agent.proc.kill9()
	root := filepath.Join(agent.WorkDir, "work")
	Poll(defaultWait, func() bool { return killTasksUnder(root) == 0 })
}

// Expect notes an operator's action after which processes of identities
// starting with prefix may end (those whose command line holds cmd, if
// set).
func (c *Cluster) Expect(prefix, cmd, action string) {
	c.rec.Record(history.Event{Kind: history.Expect, Task: prefix, Source: cmd, Detail: action})
}

// Running reports whether the node's daemon runs (paused counts).
func (n *Node) Running() bool { return n.proc != nil && n.proc.running() }

// Paused reports whether the node's daemon is paused.
func (n *Node) Paused() bool { return n.proc != nil && n.proc.isPaused() }

// PID is the node's daemon's PID, or 0.
func (n *Node) PID() int {
	if n.proc == nil {
		return 0
	}
	return n.proc.pid()
}
