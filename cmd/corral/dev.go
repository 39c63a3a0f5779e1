package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/store"
)

func newDevCommand() *cobra.Command {
	cmd, f := newServerCommand("dev", "Run a whole local cluster in one process",
		"Run a standalone master and several agents in one process, on loopback, for\n"+
			"development and trying corral out. No ZooKeeper is needed.", runDev)
	f.String("master-listen", "127.0.0.1:5050", "address of the master")
	f.Int("agents", 3, "number of agents")
	f.Int("agent-base-port", 5051, "port of the first agent; the others follow")
	f.String("agent-resources", "", `resources of each agent (default "cpus:4;mem:4096;disk:20000" and 1,000 ports of its own)`)
	f.String("work-dir", "", "directory for the agents' work dirs (default: a new temporary directory)")
	f.String("isolation", "posix", "the agents' --isolation: an isolator list (cgroups/mem,namespaces/pid,filesystem/linux,...) or a shorthand (posix, linux, auto, sim)")
	for _, fc := range frameworkCommands { // at the addresses of their own commands
		f.String(fc.name+"-listen", fc.listen, "address of the "+fc.name+" framework's API")
	}
	f.String("dns-listen", "127.0.0.1:8053", "address of the DNS server naming tasks and pets (UDP and TCP); empty for none")
	f.String("dns-domain", "corral", "domain of those names; pets are told their peers' names in it")
	f.String("network-cni-config-dir", "", "directory of CNI network configurations for the agents (see corral agent); tasks naming one of its networks get an address on it (the isolation becomes linux if it was posix)")
	f.String("network-cni-plugins-dir", "/usr/lib/cni", "directory of the CNI plugin binaries (several separated by ':')")
	f.String("dns", "", "comma-separated nameservers for the resolv.conf of containers on CNI networks (default: the --dns-listen address when it listens on port 53 on a non-loopback address)")
	f.Duration("ready-timeout", 30*time.Second, "how long agents and frameworks may take to register")
	addImageFlags(f) // each agent keeps its own store, under --docker-store-dir/agent-N if that is set
	return cmd
}

// devCluster is what runDev started, in the order it stops things.
type devCluster struct {
	agents     []*agent.Agent
	frameworks []interface{ FrameworkID() string }
	servers    []*server
	cancel     []context.CancelFunc
	done       []chan error
}

func runDev(cmd *cobra.Command, s *settings, log *slog.Logger, level *slog.LevelVar) error {
	n := s.Int("agents")
	if n < 1 {
		return fmt.Errorf("--agents must be at least 1, got %d", n)
	}
	readyTimeout, err := s.Duration("ready-timeout")
	if err != nil {
		return err
	}
	workDir := s.String("work-dir")
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "corral-dev-"); err != nil {
			return fmt.Errorf("creating a work dir: %w", err)
		}
	}
	ctx, stop := untilSignalled(cmd)
	defer stop()
	out := cmd.OutOrStdout()
	c := &devCluster{}
	defer c.stop(log)

	mln, err := listen(s.String("master-listen"))
	if err != nil {
		return err
	}
	registry, err := store.OpenLocal(filepath.Join(workDir, "master"))
	if err != nil {
		mln.Close()
		return err
	}
	// Not closed on return: the master's last writes happen while c.stop
	// runs, and the file store holds nothing that needs flushing.
	m, err := master.New(master.Config{
		Addr: mln.Addr().String(), WorkDir: filepath.Join(workDir, "master"), Store: registry,
		Registerer: serverRegistry(), Logger: log, LogLevel: level, Flags: flagValues(s),
	})
	if err != nil {
		mln.Close()
		return err
	}
	c.start(m, mln, log)
	fmt.Fprintf(out, "master   http://%s\n", mln.Addr())
	dnsDomain, err := c.startDNS(s, mln.Addr().String(), out, log)
	if err != nil {
		return err
	}

	network := devNetworkOf(s)
	host, _, _ := net.SplitHostPort(mln.Addr().String())
	base := s.Int("agent-base-port")
	for i := range n {
		addr := net.JoinHostPort(host, strconv.Itoa(base+i))
		if base == 0 {
			addr = net.JoinHostPort(host, "0")
		}
		ln, err := listen(addr)
		if err != nil {
			return err
		}
		res := s.String("agent-resources")
		if res == "" {
			res = fmt.Sprintf("cpus:4;mem:4096;disk:20000;ports:[%d-%d]", 31000+1000*i, 31999+1000*i)
		}
		acfg := agent.Config{
			Master:                mln.Addr().String(),
			Addr:                  ln.Addr().String(),
			Hostname:              fmt.Sprintf("agent-%d", i),
			WorkDir:               filepath.Join(workDir, fmt.Sprintf("agent-%d", i)),
			Resources:             res,
			Attributes:            fmt.Sprintf("host:agent-%d;rack:r%d;zone:z%d", i, i%2, i%3),
			Isolation:             network.isolation,
			NetworkCNIConfigDir:   network.configDir,
			NetworkCNIPluginsDirs: network.pluginsDirs,
			DNS:                   network.dns,
			Registerer:            serverRegistry(),
			Logger:                log,
		}
		if err := imageConfig(s, &acfg); err != nil {
			ln.Close()
			return err
		}
		if acfg.DockerStoreDir != "" {
			acfg.DockerStoreDir = filepath.Join(acfg.DockerStoreDir, fmt.Sprintf("agent-%d", i))
		}
		a, err := agent.New(acfg)
		if err != nil {
			ln.Close()
			return err
		}
		c.agents = append(c.agents, a)
		c.start(a, ln, log)
		fmt.Fprintf(out, "agent-%d  http://%s  %s\n", i, ln.Addr(), res)
	}
	masterAddr := mln.Addr().String()
	for _, fw := range []struct {
		name         string
		newFramework func(st store.Store, apiURL string) (devFramework, error)
	}{
		{"service", func(st store.Store, apiURL string) (devFramework, error) {
			return service.New(ctx, service.Config{Master: masterAddr, Store: st, Logger: log, WebUIURL: apiURL})
		}},
		{"pets", func(st store.Store, _ string) (devFramework, error) {
			return pets.New(ctx, pets.Config{Master: masterAddr, Store: st, Logger: log, DNSDomain: dnsDomain})
		}},
		{"batch", func(st store.Store, _ string) (devFramework, error) {
			return batch.New(ctx, batch.Config{Master: masterAddr, Store: st, Logger: log})
		}},
	} {
		if err := c.startFramework(fw.name, s.String(fw.name+"-listen"), filepath.Join(workDir, fw.name), fw.newFramework, out, log); err != nil {
			return err
		}
	}
	if err := c.waitRegistered(ctx, readyTimeout); err != nil {
		return err
	}
	fmt.Fprintf(out, "work dir %s\n", workDir)
	fmt.Fprintln(out, "corral dev: ready")
	<-ctx.Done()
	fmt.Fprintln(out, "corral dev: stopping")
	return nil
}

// devFramework is a bundled framework as the dev cluster runs it.
type devFramework interface {
	framework
	FrameworkID() string
}

// startFramework starts a framework with its API on addr and its state
// in dir.
func (c *devCluster) startFramework(name, addr, dir string, newFramework func(st store.Store, apiURL string) (devFramework, error), out io.Writer, log *slog.Logger) error {
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	st, err := store.OpenLocal(dir)
	if err != nil {
		ln.Close()
		return err
	}
	f, err := newFramework(st, "http://"+ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	c.frameworks = append(c.frameworks, f)
	c.start(frameworkComponent[devFramework]{f: f, gatherer: serverRegistry()}, ln, log)
	fmt.Fprintf(out, "%-8s http://%s\n", name, ln.Addr())
	return nil
}

// start runs comp until stop: its context is not the signal's, so that on
// interrupt the agents are still running when stop asks them to kill tasks.
func (c *devCluster) start(comp component, ln net.Listener, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c.servers = append(c.servers, serveHTTP(ln, comp.Handler(), log))
	go func() { done <- comp.Run(ctx) }()
	c.cancel = append(c.cancel, cancel)
	c.done = append(c.done, done)
}

func (c *devCluster) waitRegistered(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := 0
		for _, a := range c.agents {
			if a.ID() != "" {
				ready++
			}
		}
		for _, f := range c.frameworks {
			if f.FrameworkID() != "" {
				ready++
			}
		}
		if ready == len(c.agents)+len(c.frameworks) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted before the agents and frameworks registered")
		case <-deadline.C:
			return fmt.Errorf("%d of %d agents and frameworks registered within %v", ready, len(c.agents)+len(c.frameworks), timeout)
		case <-tick.C:
		}
	}
}

// stop kills the agents' tasks, then stops agents and master, newest first.
func (c *devCluster) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, a := range c.agents {
		if err := a.Shutdown(ctx); err != nil {
			log.Warn("agent shutdown", "err", err)
		}
	}
	for i := len(c.cancel) - 1; i >= 0; i-- {
		c.cancel[i]()
		<-c.done[i]
		c.servers[i].shutdown()
	}
}
