package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/corral-sched/corral/internal/testkit/zktest"
	"github.com/corral-sched/corral/test/cluster/history"
)

// TB is what the harness needs of a test (testing.TB has it all).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
	Name() string
	TempDir() string
	Cleanup(func())
}

// Ports every node serves on: each node has an address of its own, so
// all use the defaults.
const (
	zkClientPort = 2181
	masterPort   = 5050
	agentPort    = 5051
)

// Options shape a cluster.
type Options struct {
	// Corral is the binary under test (see Build).
	Corral string
	// ZooKeepers, Masters and Agents count the nodes of each kind.
	ZooKeepers, Masters, Agents int
	// SessionTimeout is every ZooKeeper client's (default 2s: a dead
	// leader is replaced within seconds).
	SessionTimeout time.Duration
	// MasterFlags and AgentFlags are added to every master's and agent's
	// command line; AgentResources is each agent's --resources.
	MasterFlags, AgentFlags []string
	AgentResources          string
	// MasterEnv adds environment variables to master i.
	MasterEnv map[int][]string
	// MasterZooKeepers lists the ZooKeeper servers (by index) master i is
	// told of (default all), to pin its sessions to a server.
	MasterZooKeepers map[int][]int
	// Identity maps a task ID to what may run only once (default: the
	// task ID itself; a pet's name for the pets framework's tasks).
	Identity func(taskID string) string
	// TaskComm is the command name of tasks' processes (default "sleep").
	TaskComm string
	// Logs, if set, is a directory that keeps every node's log and the
	// history after the test; otherwise they live in the test's temporary
	// directory and their tails are printed when it fails.
	Logs string
}

// Node is one machine of the cluster: a network namespace of its own,
// and its daemon if it runs one.
type Node struct {
	*Netns
	Kind    string // zookeeper, master, agent, framework
	Addr    string // ip:port it serves on
	WorkDir string
	Log     string
	proc    *process
	c       *Cluster
}

// Cluster is a running cluster under test.
type Cluster struct {
	t    TB
	opts Options
	dir  string
	net  *Network
	rec  *history.Recorder

	Observer   *Netns // the harness's own node: probes and operator calls
	ZooKeepers []*Node
	Masters    []*Node
	Agents     []*Node
	nodes      []*Node

	sampler *sampler
	prober  *prober
	checked bool
}

// Build compiles corral into dir, once per test binary.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "corral")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/cmd/corral")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster: building corral: %w", err)
	}
	return bin, nil
}

// Start builds the network and starts ZooKeeper, the masters and the
// agents, and returns once a master leads and every agent is registered
// with it. Everything is torn down when the test ends, whatever happens.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	if missing := strings.Trim(Missing()+"; "+zktest.Available(), "; "); missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the fault harness cannot run here: %s", missing)
		}
		t.Skipf("the fault harness cannot run here: %s", missing)
	}
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 2 * time.Second
	}
	if opts.AgentResources == "" {
		opts.AgentResources = "cpus:4;mem:2048;disk:4000"
	}
	if opts.Identity == nil {
		opts.Identity = func(id string) string { return id }
	}
	if opts.TaskComm == "" {
		opts.TaskComm = "sleep"
	}
	c := &Cluster{t: t, opts: opts, rec: history.NewRecorder(nil), dir: t.TempDir()}
	if opts.Logs != "" {
		c.dir = filepath.Join(opts.Logs, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		_ = os.RemoveAll(c.dir)
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	n, err := NewNetwork()
	if err != nil {
		t.Fatalf("%v", err)
	}
	c.net = n
	// Cleanups run last-in first-out: the network goes last, after every
	// process in it was stopped.
	t.Cleanup(c.teardown)
	if c.Observer, err = n.Add("observer"); err != nil {
		t.Fatalf("%v", err)
	}
	c.startZooKeepers()
	for i := range opts.Masters {
		c.addMaster(i)
	}
	for i := range opts.Agents {
		c.AddAgent(fmt.Sprintf("agent-%d", i))
	}
	c.sampler = startSampler(c)
	c.prober = startProber(c)
	c.WaitFor(90*time.Second, "a leading master", func() bool { return c.Leader() != nil })
	c.WaitAgents(opts.Agents, 60*time.Second)
	t.Logf("cluster up: %d ZooKeeper, %d masters, %d agents; logs in %s", len(c.ZooKeepers), len(c.Masters), len(c.Agents), c.dir)
	return c
}

// Recorder is the run's history; frameworks and tests add to it.
func (c *Cluster) Recorder() *history.Recorder { return c.rec }

// Dir is where the nodes' logs are.
func (c *Cluster) Dir() string { return c.dir }

// ZKURL is the --zk URL of the cluster's election path, naming the given
// servers (by index), or all of them.
func (c *Cluster) ZKURL(servers ...int) string {
	var hosts []string
	for i, z := range c.ZooKeepers {
		if len(servers) == 0 || slices.Contains(servers, i) {
			hosts = append(hosts, z.Addr)
		}
	}
	return "zk://" + strings.Join(hosts, ",") + "/corral"
}

// node makes a node's namespace and directories.
func (c *Cluster) node(name, kind string, port int) *Node {
	c.t.Helper()
	ns, err := c.net.Add(name)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	n := &Node{Netns: ns, Kind: kind, WorkDir: filepath.Join(c.dir, name), Log: filepath.Join(c.dir, name+".log"), c: c}
	if port != 0 {
		n.Addr = fmt.Sprintf("%s:%d", ns.IP, port)
	}
	if err := os.MkdirAll(n.WorkDir, 0o755); err != nil {
		c.t.Fatalf("cluster: %v", err)
	}
	c.nodes = append(c.nodes, n)
	return n
}

// run starts a daemon on the node.
func (c *Cluster) run(n *Node, env []string, argv ...string) {
	c.t.Helper()
	n.proc = &process{ns: n.Netns, argv: argv, env: env, log: n.Log}
	if err := n.proc.start(); err != nil {
		c.t.Fatalf("%v", err)
	}
}

func (c *Cluster) addMaster(i int) *Node {
	n := c.node(fmt.Sprintf("master-%d", i), "master", masterPort)
	args := []string{c.opts.Corral, "master", "--listen", n.Addr, "--zk", c.ZKURL(c.opts.MasterZooKeepers[i]...),
		"--zk-session-timeout", c.opts.SessionTimeout.String(), "--work-dir", n.WorkDir,
		"--allocation-interval", "100ms", "--agent-ping-timeout", "500ms", "--max-agent-ping-timeouts", "6",
		// Frameworks notice a silent master after a few missed heartbeats.
		"--heartbeat-interval", "1s"}
	c.run(n, c.opts.MasterEnv[i], append(args, c.opts.MasterFlags...)...)
	c.Masters = append(c.Masters, n)
	return n
}

// AddAgent starts one more agent, named name (also its hostname).
func (c *Cluster) AddAgent(name string) *Node {
	c.t.Helper()
	n := c.node(name, "agent", agentPort)
	args := []string{c.opts.Corral, "agent", "--listen", n.Addr, "--zk", c.ZKURL(),
		"--zk-session-timeout", c.opts.SessionTimeout.String(), "--work-dir", filepath.Join(n.WorkDir, "work"),
		"--hostname", name, "--isolation", "posix", "--resources", c.opts.AgentResources}
	c.run(n, nil, append(args, c.opts.AgentFlags...)...)
	c.Agents = append(c.Agents, n)
	if c.sampler != nil {
		c.sampler.watch(n)
	}
	return n
}

// AddProcess starts another corral command (a framework) on a node of its
// own: argv follows the binary; {addr} in it becomes the node's address
// with port, {dir} its work directory.
func (c *Cluster) AddProcess(name string, port int, argv ...string) *Node {
	c.t.Helper()
	n := c.node(name, "framework", port)
	args := []string{c.opts.Corral}
	for _, a := range argv {
		args = append(args, strings.ReplaceAll(strings.ReplaceAll(a, "{addr}", n.Addr), "{dir}", n.WorkDir))
	}
	c.run(n, nil, args...)
	return n
}

// AddNode makes a node without a daemon, for a framework running in the
// test process whose connections start in the node's namespace.
func (c *Cluster) AddNode(name string) *Node {
	c.t.Helper()
	return c.node(name, "framework", 0)
}

// WaitFor polls cond until it holds or d passes.
func (c *Cluster) WaitFor(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	if !Poll(d, cond) {
		c.t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// Poll polls cond every 50 ms until it holds (true) or d passes (false).
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	return true
}

// teardown heals every fault, stops every process (tasks too), prints the
// logs' tails if the test failed, and removes the network.
func (c *Cluster) teardown() {
	if c.prober != nil {
		c.prober.stop()
	}
	if c.sampler != nil {
		c.sampler.stop()
	}
	for _, n := range c.nodes {
		if n.proc != nil {
			_ = n.proc.signal(syscall.SIGCONT)
		}
	}
	for i := len(c.nodes) - 1; i >= 0; i-- {
		if n := c.nodes[i]; n.proc != nil {
			n.proc.stop()
		}
	}
	for _, a := range c.Agents {
		killTasksUnder(filepath.Join(a.WorkDir, "work"))
	}
	forgetClients(c.net.Nodes())
	if !c.checked {
		if f, err := os.Create(filepath.Join(c.dir, "history.jsonl")); err == nil {
			_ = history.WriteJSON(f, c.rec.Events())
			f.Close()
		}
	}
	if c.t.Failed() && c.opts.Logs == "" {
		c.keepLogs()
	}
	if c.t.Failed() {
		// ZooKeeper's logs are long and rarely the story; they stay in
		// the directory.
		for _, n := range c.nodes {
			if n.proc != nil && n.Kind != "zookeeper" {
				c.t.Logf("--- last lines of %s's log (%s):\n%s", n.Name, n.Log, tail(n.Log, 30))
			}
		}
	}
	c.net.Close()
}

// keepLogs copies the nodes' logs, the history and the report out of the
// test's temporary directory, which is about to go, so that a failure
// can be studied (CORRAL_FAULTS_LOGS keeps everything, always).
func (c *Cluster) keepLogs() {
	dst, err := os.MkdirTemp("", "corral-faults-"+strings.NewReplacer("/", "_", " ", "_").Replace(c.t.Name())+"-")
	if err != nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(c.dir, "*.*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
		}
	}
	c.t.Logf("logs, history and report kept in %s", dst)
}
