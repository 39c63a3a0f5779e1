package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/internal/httpserve"
	"github.com/corral-sched/corral/internal/testkit/benchkit"
)

// A fleet is the simulated agents of a run, in this process or spread
// over child processes (`corral-bench agents --report`): one process
// cannot hold 50,000 agents, each of which keeps its checkpoint log open,
// within this machine's limit of 20,000 file descriptors.
type fleet interface {
	// connected counts the agents connected to the master now.
	connected() int
	// subscribedAt is, per agent ID, when the master first acknowledged
	// the agent's registration.
	subscribedAt() map[string]time.Time
	// waiting counts the agents that have started and wait for release
	// to register.
	waiting() int
	// release lets the agents register.
	release()
	stop()
}

// agentsPerSourceIP bounds the agents that dial from one loopback address
// when each has connections of its own: two (its event stream and its
// calls), and one source address has about 28,000 ephemeral ports
// (net.ipv4.ip_local_port_range) towards the master's address and port.
const agentsPerSourceIP = 5000

// sharedConns bounds the connections n agents sharing one HTTP/2 client
// open: twice what their event streams need, as the master carries at most
// httpserve.MaxStreamsPerConn streams on a connection, which leaves room
// for their short calls. Without a bound, when thousands subscribed at
// once, the client dialled a connection for every stream that found the
// open ones full: tens of thousands of dials, most closed again at once,
// and the fleet's CPU went to connect(2).
func sharedConns(n int) int { return 2*n/httpserve.MaxStreamsPerConn + 4 }

// simAgents starts n simulated agents against master, numbered from first
// (their hostnames, ports and source addresses); each gets a port number
// of its own for its AgentInfo but no listener (the master never dials
// agents).
//
// With shared false each has an HTTP client of its own, as a real agent
// has: two connections to the master, both ends in this process when the
// master is in it too. Agents then dial from 127.0.1.1, 127.0.1.2, ... so
// that tens of thousands do not run out of ephemeral ports. With shared
// true they all use one HTTP/2 client (h2c), which multiplexes their
// streams and calls over a few connections.
func simAgents(ctx context.Context, first, n int, masterAddr, res, dir string, shared bool, log *slog.Logger) (*localFleet, error) {
	f := &localFleet{}
	return f, f.start(ctx, first, n, masterAddr, res, dir, shared, log)
}

// start adds n agents to the fleet; readers see each as it is added.
func (f *localFleet) start(ctx context.Context, first, n int, masterAddr, res, dir string, shared bool, log *slog.Logger) error {
	var h2 *http.Client
	if shared {
		var protocols http.Protocols
		protocols.SetUnencryptedHTTP2(true)
		h2 = &http.Client{Transport: &http.Transport{Proxy: nil, Protocols: &protocols, IdleConnTimeout: 90 * time.Second,
			MaxConnsPerHost: sharedConns(n)}}
	}
	for i := first; i < first+n; i++ {
		client := h2
		if client == nil {
			dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
				LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/agentsPerSourceIP))}}
			client = &http.Client{Transport: &http.Transport{
				Proxy: nil, DialContext: dialer.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
			}}
		}
		cfg := agent.Config{
			Master: masterAddr, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+i%40000)),
			Hostname: fmt.Sprintf("sim-%d", i), WorkDir: filepath.Join(dir, fmt.Sprintf("sim-%d", i)),
			Resources: res, Attributes: fmt.Sprintf("rack:r%d", i%10), Isolation: "sim",
			RegisterBackoff: 50 * time.Millisecond, DiskWatchInterval: time.Hour, HTTPClient: client,
			Registerer: prometheus.NewRegistry(), Logger: log,
		}
		if f.gate != nil {
			cfg.Detector = f.gate.detector()
		}
		a, err := agent.New(cfg)
		if err != nil {
			f.stop()
			return err
		}
		actx, cancel := context.WithCancel(ctx)
		ch := make(chan struct{})
		go func() { _ = a.Run(actx); close(ch) }()
		f.mu.Lock()
		f.agents, f.cancels, f.done = append(f.agents, a), append(f.cancels, cancel), append(f.done, ch)
		f.mu.Unlock()
	}
	return nil
}

// localFleet is simulated agents in this process.
type localFleet struct {
	// gate, when set before start, holds the agents until release.
	gate *fleetGate

	mu      sync.Mutex
	agents  []*agent.Agent       // guarded by mu
	cancels []context.CancelFunc // guarded by mu
	done    []chan struct{}      // guarded by mu
}

// list is the agents started so far.
func (f *localFleet) list() []*agent.Agent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agents[:len(f.agents):len(f.agents)]
}

func (f *localFleet) connected() int {
	n := 0
	for _, a := range f.list() {
		if a.Connected() {
			n++
		}
	}
	return n
}

func (f *localFleet) subscribedAt() map[string]time.Time {
	agents := f.list()
	out := make(map[string]time.Time, len(agents))
	for _, a := range agents {
		if id := a.ID(); id != "" {
			out[id] = a.SubscribedAt()
		}
	}
	return out
}

func (f *localFleet) waiting() int {
	if f.gate == nil {
		return len(f.list())
	}
	return f.gate.waiting()
}

func (f *localFleet) release() {
	if f.gate != nil {
		f.gate.release()
	}
}

func (f *localFleet) stop() {
	f.mu.Lock()
	cancels, done := f.cancels, f.done
	f.mu.Unlock()
	for i, c := range cancels {
		c()
		<-done[i]
	}
}

// fleetReport is a line `corral-bench agents --report` prints: an agent's
// first registration, or how many of its agents are connected now.
type fleetReport struct {
	Agent     string `json:"agent,omitempty"`
	At        int64  `json:"at_unix_nano,omitempty"`
	Connected *int   `json:"connected,omitempty"`
	Waiting   *int   `json:"waiting,omitempty"` // agents started and held before registering
}

// report prints, every poll, the agents registered for the first time
// since the last and the number connected when it changed, until ctx
// ends.
func (f *localFleet) report(ctx context.Context, w io.Writer, poll time.Duration) error {
	enc := json.NewEncoder(w)
	var reported []bool // by index in the fleet: its first registration was told
	last, lastWaiting := -1, -1
	for {
		agents := f.list()
		reported = append(reported, make([]bool, len(agents)-len(reported))...)
		n := 0
		for i, a := range agents {
			if a.Connected() {
				n++
			}
			if reported[i] {
				continue
			}
			if at := a.SubscribedAt(); !at.IsZero() {
				reported[i] = true
				if err := enc.Encode(fleetReport{Agent: a.ID(), At: at.UnixNano()}); err != nil {
					return err
				}
			}
		}
		if n != last {
			last = n
			if err := enc.Encode(fleetReport{Connected: &n}); err != nil {
				return err
			}
		}
		if w := f.waiting(); f.gate != nil && w != lastWaiting {
			lastWaiting = w
			if err := enc.Encode(fleetReport{Waiting: &w}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll): // the agents' state is polled, as the in-process fleet's is
		}
	}
}

// processFleet is simulated agents in child processes, each a
// `corral-bench agents --report` that tells on its stdout what its agents
// do.
type processFleet struct {
	mu     sync.Mutex
	at     map[string]time.Time // guarded by mu
	counts []int                // guarded by mu; per child, connected agents
	waits  []int                // guarded by mu; per child, agents held before registering
	cmds   []*exec.Cmd
	stdins []io.WriteCloser // closing one releases its child's agents
	done   []chan struct{}
}

// startProcessFleet runs n agents in children of perProcess agents at
// most, started from this binary; their logs go to dir.
func startProcessFleet(n, perProcess int, masterAddr, res, dir, connections string) (*processFleet, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &processFleet{at: make(map[string]time.Time, n)}
	for first := 0; first < n; first += perProcess {
		count := min(perProcess, n-first)
		i := len(f.cmds)
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("agents-%d.log", i)))
		if err != nil {
			f.stop()
			return nil, err
		}
		c := exec.Command(self, "agents", "--report", "--wait-for-stdin", "--master", masterAddr, "--count", strconv.Itoa(count),
			"--first", strconv.Itoa(first), "--resources", res, "--connections", connections,
			"--work-dir", filepath.Join(dir, fmt.Sprintf("agents-%d", i)))
		c.Stderr = logFile
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // they end with the benchmark, however it ends
		out, err := c.StdoutPipe()
		var in io.WriteCloser
		if err == nil {
			in, err = c.StdinPipe()
		}
		if err != nil {
			logFile.Close()
			f.stop()
			return nil, err
		}
		if err := c.Start(); err != nil {
			logFile.Close()
			f.stop()
			return nil, fmt.Errorf("starting simulated agents: %w", err)
		}
		f.mu.Lock() // the readers of children already started take it too
		f.counts, f.waits = append(f.counts, 0), append(f.waits, 0)
		f.mu.Unlock()
		done := make(chan struct{})
		f.cmds, f.stdins, f.done = append(f.cmds, c), append(f.stdins, in), append(f.done, done)
		go func() {
			defer close(done)
			defer logFile.Close()
			f.read(i, out)
			_ = c.Wait()
		}()
	}
	return f, nil
}

// read takes in child i's reports until its stdout closes.
func (f *processFleet) read(i int, out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r fleetReport
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		f.mu.Lock()
		if r.Agent != "" {
			f.at[r.Agent] = time.Unix(0, r.At)
		}
		if r.Connected != nil {
			f.counts[i] = *r.Connected
		}
		if r.Waiting != nil {
			f.waits[i] = *r.Waiting
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	f.counts[i] = 0 // a child that exited has no agents connected
	f.mu.Unlock()
}

// cpuSeconds is the CPU the children used so far.
func (f *processFleet) cpuSeconds() float64 {
	var sum float64
	for _, c := range f.cmds {
		s, _ := benchkit.ProcCPUSeconds(c.Process.Pid)
		sum += s
	}
	return sum
}

func (f *processFleet) connected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sum(f.counts)
}

func (f *processFleet) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sum(f.waits)
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// release closes the children's stdin, which each waits for.
func (f *processFleet) release() {
	for _, in := range f.stdins {
		_ = in.Close()
	}
}

func (f *processFleet) subscribedAt() map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.at)
}

// stop ends the children (SIGTERM: they stop their agents) and waits.
func (f *processFleet) stop() {
	for _, c := range f.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for i, d := range f.done {
		select {
		case <-d:
		case <-time.After(30 * time.Second):
			_ = f.cmds[i].Process.Kill()
			<-d
		}
	}
}
