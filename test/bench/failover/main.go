// Command failover measures master failover under ZooKeeper: two `corral
// master` processes contend for leadership over a 3-node ensemble, N
// agents (in this process, the real agent code over loopback HTTP) are
// registered, and the leader is killed with SIGKILL. It reports, per
// round, the time from the kill to a new leader answering operator calls
// and to every agent re-registered with it, and prints a markdown table.
//
// Run it with `go run ./test/bench/failover -agents 3,1000`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/benchkit"
	"github.com/corral-sched/corral/internal/zktest"
	"github.com/corral-sched/corral/proto/masterpb"
)

func main() {
	counts := flag.String("agents", "3,1000", "comma-separated agent counts to measure")
	rounds := flag.Int("rounds", 3, "leader kills per agent count")
	sessionTimeout := flag.Duration("zk-session-timeout", 2*time.Second, "ZooKeeper session timeout of masters and agents")
	flag.Parse()
	if err := run(*counts, *rounds, *sessionTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

func run(counts string, rounds int, sessionTimeout time.Duration) error {
	h := &benchkit.Harness{}
	defer h.Close()
	dir := h.TempDir()
	bin := filepath.Join(dir, "corral")
	build := exec.Command("go", "build", "-o", bin, "github.com/corral-sched/corral/cmd/corral")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building corral: %w", err)
	}
	fmt.Printf("corral master failover, %s, %d cores, %s, ZooKeeper session timeout %v\n\n",
		time.Now().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), sessionTimeout)
	fmt.Printf("| agents | round | kill → new leader serving | kill → all agents re-registered |\n|---|---|---|---|\n")
	for _, field := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return fmt.Errorf("-agents: %q is not a positive count", field)
		}
		if err := measure(h, bin, filepath.Join(dir, strconv.Itoa(n)), n, rounds, sessionTimeout); err != nil {
			return fmt.Errorf("%d agents: %w", n, err)
		}
	}
	return nil
}

func measure(h *benchkit.Harness, bin, dir string, agents, rounds int, sessionTimeout time.Duration) error {
	var zk *zktest.Ensemble
	if err := h.Do(func() { zk = zktest.StartEnsemble(h, 3) }); err != nil {
		return err
	}
	url := zk.URL("/corral")
	masters := make([]*master, 2)
	for i := range masters {
		m, err := startMaster(h, bin, filepath.Join(dir, fmt.Sprintf("master-%d", i)), url, sessionTimeout)
		if err != nil {
			return err
		}
		masters[i] = m
	}
	session, err := election.Dial(zk.Addrs(), sessionTimeout, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stopped []chan struct{}
	h.Cleanup(func() {
		cancel()
		for _, c := range stopped {
			<-c
		}
		session.Close()
	})
	detector := election.NewDetector(session, "/corral")
	for i := range agents {
		a, err := agent.New(agent.Config{
			Detector: detector, Addr: fmt.Sprintf("127.0.0.1:%d", 20000+i), Hostname: fmt.Sprintf("agent-%d", i),
			WorkDir: filepath.Join(dir, fmt.Sprintf("agent-%d", i)), Resources: "cpus:4;mem:4096;disk:1000",
			RegisterBackoff: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return err
		}
		done := make(chan struct{})
		stopped = append(stopped, done)
		go func() { _ = a.Run(ctx); close(done) }()
	}
	if _, err := settle(masters, agents, 5*time.Minute); err != nil {
		return err
	}
	for round := 1; round <= rounds; round++ {
		leader := leaderOf(masters)
		if leader < 0 {
			return errors.New("no leader before the kill")
		}
		killed := time.Now()
		masters[leader].kill()
		elected, err := waitLeader(masters, leader, time.Minute)
		if err != nil {
			return err
		}
		all, err := settle(masters, agents, 5*time.Minute)
		if err != nil {
			return err
		}
		fmt.Printf("| %d | %d | %.2f s | %.2f s |\n", agents, round, elected.Sub(killed).Seconds(), all.Sub(killed).Seconds())
		if err := masters[leader].start(); err != nil {
			return err
		}
	}
	return nil
}

// settle waits until the leader lists n active agents.
func settle(masters []*master, n int, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if i := leaderOf(masters); i >= 0 {
			if active, err := benchkit.ActiveAgents(masters[i].addr); err == nil && active == n {
				return time.Now(), nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	return time.Time{}, fmt.Errorf("%d agents not all registered within %v", n, within)
}

func waitLeader(masters []*master, not int, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if i := leaderOf(masters); i >= 0 && i != not {
			return time.Now(), nil
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	return time.Time{}, fmt.Errorf("no new leader within %v", within)
}

func leaderOf(masters []*master) int {
	for i, m := range masters {
		if _, err := benchkit.Operator(m.addr, masterpb.Call_GET_HEALTH); err == nil {
			return i
		}
	}
	return -1
}

type master struct {
	args []string
	bin  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startMaster(h *benchkit.Harness, bin, dir, url string, sessionTimeout time.Duration) (*master, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	m := &master{bin: bin, addr: addr, args: []string{"master", "--listen", addr, "--zk", url,
		"--zk-session-timeout", sessionTimeout.String(), "--work-dir", dir, "--log-level", "warn"}}
	h.Cleanup(m.kill)
	return m, m.start()
}

func (m *master) start() error {
	m.cmd = exec.Command(m.bin, m.args...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	m.done = done
	go func() { _ = m.cmd.Wait(); close(done) }()
	return nil
}

func (m *master) kill() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
}
