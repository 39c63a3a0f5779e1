package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corral-sched/corral/internal/netns"
)

// Namespace names start with namePrefix, then the PID of the process that
// made them: a namespace whose maker is gone is stale (its test binary
// crashed or was killed before its cleanup ran), and the next harness to
// start removes it with whatever still runs in it.
const namePrefix = "corralft-"

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/var/run/netns"

// Subnet is the harness's address range: 198.18.0.0/15 is reserved for
// benchmarking (RFC 2544) and never routed, and it lives only on bridges
// inside namespaces the harness made.
const subnet = "198.18.0"

var networks atomic.Int64

// Network is one outer namespace holding a bridge, and the namespaces of
// the nodes attached to it. Nothing of it is in the host's namespace.
type Network struct {
	prefix string // namePrefix + pid + network number + "-"
	outer  string

	mu    sync.Mutex
	nodes []*Netns // guarded by mu
}

// Netns is one node's network namespace: an eth0 on the bridge with its
// own address, and loopback.
type Netns struct {
	Name string // the node's name, e.g. "master-0"
	IP   string
	ns   string // the namespace's name
	veth string // its peer's name in the outer namespace
}

// requirements lists the commands the harness runs.
var requirements = map[string]string{"ip": "iproute2", "iptables": "iptables", "nsenter": "util-linux", "tc": "iproute2"}

// Missing says what this machine lacks to run the harness, or "".
func Missing() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	for cmd, pkg := range requirements {
		if _, err := exec.LookPath(cmd); err != nil {
			return fmt.Sprintf("%s is not installed (apt-get install %s)", cmd, pkg)
		}
	}
	return ""
}

// NewNetwork sweeps stale namespaces, then makes the outer namespace and
// its bridge.
func NewNetwork() (*Network, error) {
	if err := SweepStale(); err != nil {
		return nil, err
	}
	n := &Network{prefix: fmt.Sprintf("%s%d-%d-", namePrefix, os.Getpid(), networks.Add(1))}
	n.outer = n.prefix + "bridge"
	steps := [][]string{
		{"netns", "add", n.outer},
		{"-n", n.outer, "link", "add", "br0", "type", "bridge"},
		{"-n", n.outer, "link", "set", "br0", "up"},
		{"-n", n.outer, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Add makes a namespace for node name, attached to the bridge with the
// next free address.
func (n *Network) Add(name string) (*Netns, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := len(n.nodes) + 10
	if i > 250 {
		return nil, errors.New("cluster: more than 240 nodes on one network")
	}
	ns := &Netns{Name: name, IP: fmt.Sprintf("%s.%d", subnet, i), ns: n.prefix + name, veth: fmt.Sprintf("v%d", i)}
	n.nodes = append(n.nodes, ns)
	steps := [][]string{
		{"netns", "add", ns.ns},
		// Both ends are made inside namespaces: the host never sees them.
		{"-n", n.outer, "link", "add", ns.veth, "type", "veth", "peer", "name", "eth0", "netns", ns.ns},
		{"-n", n.outer, "link", "set", ns.veth, "master", "br0", "up"},
		{"-n", ns.ns, "addr", "add", ns.IP + "/24", "dev", "eth0"},
		{"-n", ns.ns, "link", "set", "eth0", "up"},
		{"-n", ns.ns, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	// Fault rules go into a chain of their own that INPUT jumps to, so
	// healing is one flush.
	for _, args := range [][]string{{"-N", faultChain}, {"-I", "INPUT", "-j", faultChain}} {
		if err := ns.iptables(args...); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// Nodes lists the namespaces added so far.
func (n *Network) Nodes() []*Netns {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Netns(nil), n.nodes...)
}

// Close kills whatever still runs in the network's namespaces and
// removes them.
func (n *Network) Close() {
	n.mu.Lock()
	names := []string{}
	for _, ns := range n.nodes {
		names = append(names, ns.ns)
	}
	n.mu.Unlock()
	names = append(names, n.outer)
	for _, name := range names {
		removeNamespace(name)
	}
}

// SweepStale removes namespaces left by harnesses whose process is gone,
// killing what still runs in them.
func SweepStale() error {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: listing namespaces: %w", err)
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		removeNamespace(e.Name())
	}
	return nil
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeNamespace kills the processes in namespace name (ours: started by
// a harness in it) and deletes it.
func removeNamespace(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// Killed processes may hold the namespace for a moment; the name goes
	// at once and the kernel frees the namespace with its last process.
	_ = exec.Command("ip", "netns", "del", name).Run()
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cluster: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// path is the namespace's file, for nsenter and setns.
func (ns *Netns) path() string { return filepath.Join(netnsDir, ns.ns) }

// Command prepares a command to run in the namespace. nsenter enters it
// and execs the command, so the process's PID is the command's.
func (ns *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + ns.path(), "--", name}, args...)...)
}

// run runs a command in the namespace and returns its error with its
// output.
func (ns *Netns) run(name string, args ...string) error {
	out, err := ns.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cluster: %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (ns *Netns) iptables(args ...string) error {
	// -w: other namespaces' rules are being changed at the same time.
	return ns.run("iptables", append([]string{"-w", "5"}, args...)...)
}

// DialContext connects from inside the namespace. A socket belongs to the
// namespace it was made in, so the dial runs on a thread moved into the
// namespace and back. Should the way back fail, the goroutine exits still
// locked to the thread, and the runtime ends that thread rather than let
// another goroutine run in the wrong namespace.
func (ns *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := netns.Do(ns.path(), func() error {
		// A literal address: no resolver goroutines, one dial on this
		// thread.
		d := net.Dialer{Timeout: 5 * time.Second}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: namespace %s: %w", ns.Name, err)
	}
	return c, nil
}

// HTTPClient returns a client whose connections start in the namespace.
// It follows no redirects: callers see who leads.
func (ns *Netns) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         ns.DialContext,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
