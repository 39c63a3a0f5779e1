package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/store"
)

func newAgentCommand() *cobra.Command {
	cmd, f := newServerCommand("agent", "Run an agent",
		"Run an agent: it registers its resources with the master and runs the tasks\n"+
			"frameworks launch on it.", runAgent)
	f.String("listen", "127.0.0.1:5051", "address to serve on")
	f.String("advertise", "", "address the master reaches this agent at (default: the listen address)")
	f.String("master", "127.0.0.1:5050", "host:port of a master (not used with --zk, which finds the leading one)")
	addCredentialFlags(f, "the master")
	addTLSFlags(f)
	addAPIAuthFlags(f, "/state, /metrics, /api/v1 and /files/*", "/health stays")
	f.Bool("authenticate-http-executors", false, "give each executor a token (MESOS_EXECUTOR_AUTHENTICATION_TOKEN) and require it as 'Authorization: Bearer' on the executor API, so that an executor can act only as itself")
	f.String("acls", "", "ACL file in Mesos' JSON format: access_sandboxes guards /files/* and LIST_FILES/READ_FILE, view_frameworks, view_tasks and view_executors filter /state and the state calls")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path) to find the leading master (instead of --master)")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("work-dir", "./.work/agent", "directory for sandboxes and checkpoints")
	f.String("resources", "", `resources to offer, e.g. "cpus:4;mem:4096;disk:20000;ports:[31000-32000]" (default: detected)`)
	f.String("attributes", "", `attributes, e.g. "rack:a;zone:z1"`)
	f.String("isolation", "auto", "Mesos' comma-separated isolator list ("+strings.Join(isolators.Known, ",")+
		"; aliases cgroups/all, posix/disk), or a shorthand: linux ("+strings.Join(isolators.Shorthands["linux"], ",")+
		"), posix ("+strings.Join(isolators.Shorthands["posix"], ",")+"), sim (nothing forked: for load tests), auto (linux when running as root with cgroups, else posix)")
	f.String("cgroups-root", "/corral", "cgroup under which containers are created (linux launcher)")
	f.Bool("cgroups-enable-cfs", false, "enforce cpus as a hard CFS quota, not only shares (cgroups/cpu)")
	f.Int("container-pids-limit", 4096, "most processes per container, 0 for no limit (cgroups/pids)")
	f.Duration("disk-watch-interval", 15*time.Second, "how often sandboxes are measured and garbage-collected")
	f.Bool("enforce-container-disk-quota", false, "kill tasks whose sandbox outgrows their disk resources (disk/du)")
	f.Duration("gc-delay", 7*24*time.Hour, "how long a finished task's sandbox is kept (less when the disk is nearly full)")
	f.Int64("fetcher-cache-size", 2<<30, "bytes of fetched URIs (marked cache) kept for later tasks")
	f.String("allowed-host-paths", "", "comma-separated host directories tasks may mount as HOST_PATH volumes")
	f.String("network", "host", "container networking: host, or isolated (adds namespaces/net: a namespace with loopback only; needs filesystem/linux)")
	f.String("network-cni-config-dir", "", "directory of CNI network configurations (.conflist, .conf), one network per name; adds network/cni to the isolation, so that tasks naming a network in ContainerInfo.network_infos get an address on it")
	f.String("network-cni-plugins-dir", "/usr/lib/cni", "directory of the CNI plugin binaries (several separated by ':')")
	f.String("dns", "", "comma-separated nameservers written to the resolv.conf of containers on CNI networks (e.g. where corral dns listens on port 53); default: what the network's plugins say, else the host's")
	f.String("hostname", "", "hostname to advertise (default: the machine's)")
	f.Duration("executor-shutdown-grace-period", agentDefaultGrace, "kill grace period for tasks without a KillPolicy")
	addImageFlags(f)
	return cmd
}

const agentDefaultGrace = 3 * time.Second

func agentConfig(s *settings) (agent.Config, error) {
	grace, err := s.Duration("executor-shutdown-grace-period")
	if err != nil {
		return agent.Config{}, err
	}
	diskWatch, err := s.Duration("disk-watch-interval")
	if err != nil {
		return agent.Config{}, err
	}
	gcDelay, err := s.Duration("gc-delay")
	if err != nil {
		return agent.Config{}, err
	}
	isolation := s.String("isolation") // expanded and checked by the agent, "auto" included
	network := s.String("network")
	if network != "host" && network != "isolated" {
		return agent.Config{}, fmt.Errorf("--network %q: use host or isolated", network)
	}
	principal, secret, err := clientCredentials(s.String)
	if err != nil {
		return agent.Config{}, err
	}
	creds, err := apiCredentials(s)
	if err != nil {
		return agent.Config{}, err
	}
	var acls *acl.ACLs
	if path := s.String("acls"); path != "" {
		if acls, err = acl.Load(path); err != nil {
			return agent.Config{}, err
		}
	}
	cfg := agent.Config{
		Credentials:               creds,
		AuthenticateHTTP:          s.Bool("authenticate-http"),
		AuthenticateHTTPExecutors: s.Bool("authenticate-http-executors"),
		ACLs:                      acls,
		Principal:                 principal,
		Secret:                    secret,
		AllowedHostPaths:          splitList(s.String("allowed-host-paths")),
		DiskWatchInterval:         diskWatch,
		FetcherCacheSize:          int64(s.Int("fetcher-cache-size")),
		EnforceDiskQuota:          s.Bool("enforce-container-disk-quota"),
		GCDelay:                   gcDelay,
		CgroupsRoot:               s.String("cgroups-root"),
		CgroupsEnableCFS:          s.Bool("cgroups-enable-cfs"),
		ContainerPidsLimit:        int64(s.Int("container-pids-limit")),
		IsolateNetwork:            network == "isolated",
		NetworkCNIConfigDir:       s.String("network-cni-config-dir"),
		NetworkCNIPluginsDirs:     splitPath(s.String("network-cni-plugins-dir")),
		DNS:                       splitList(s.String("dns")),
		Master:                    agentMaster(s),
		Hostname:                  s.String("hostname"),
		WorkDir:                   s.String("work-dir"),
		Resources:                 s.String("resources"),
		Attributes:                s.String("attributes"),
		Isolation:                 isolation,
		Flags:                     flagValues(s),
		ExecutorShutdownGrace:     grace,
	}
	return cfg, imageConfig(s, &cfg)
}

func runAgent(cmd *cobra.Command, s *settings, log *slog.Logger, _ *slog.LevelVar) error {
	cfg, err := agentConfig(s)
	if err != nil {
		return err
	}
	files := tlsFiles(s.String)
	if cfg.MasterTLS, err = files.Client(); err != nil {
		return err
	}
	ln, scheme, err := secureListen(s.String("listen"), files)
	if err != nil {
		return err
	}
	defer ln.Close() // on the way out early; serving closes it otherwise
	if scheme == "https" {
		// Executors verify the agent with its CA, or its own certificate
		// when it is self-signed.
		cfg.ExecutorTLSCA = cmp.Or(files.CA, files.Cert)
	}
	reg := serverRegistry()
	cfg.Addr, cfg.Registerer, cfg.Logger = advertised(s.String("advertise"), ln), reg, log
	if unenforced := cfg.ACLs.Unenforced(); len(unenforced) > 0 {
		log.Warn("the ACL file sets actions corral does not enforce", "actions", unenforced)
	}
	if s.String("zk") != "" {
		zk, err := dialZK(s, log, false)
		if err != nil {
			return err
		}
		defer zk.Close()
		cfg.Detector = &announcedDetector{Detector: zk.detector(), out: cmd.OutOrStdout(), log: log}
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := untilSignalled(cmd)
	defer stop()
	return serveWhileRunning(ctx, ln, a, log, cmd.OutOrStdout(), agentStartLine(scheme, cfg.Addr, cfg.Master, s.String("zk")))
}

// agentMaster is the fixed master to subscribe to: none when --zk finds
// the leader, so that the --master default never passes for the master
// the agent uses.
func agentMaster(s *settings) string {
	if s.String("zk") != "" {
		return ""
	}
	return s.String("master")
}

// agentStartLine says where the agent serves and how it finds its master.
func agentStartLine(scheme, addr, master, zkURL string) string {
	if zkURL != "" {
		master = "via " + store.RedactZKURL(zkURL)
	}
	return fmt.Sprintf("corral agent listening on %s://%s, master: %s", scheme, addr, master)
}

// announcedDetector tells, on stdout and in the log, which master leads
// each time the agent's lookup finds a different one: the start line can
// only say where the agent looks.
type announcedDetector struct {
	agent.Detector
	out io.Writer
	log *slog.Logger

	mu   sync.Mutex
	last string // guarded by mu
}

func (d *announcedDetector) Leader(ctx context.Context) (string, error) {
	addr, err := d.Detector.Leader(ctx)
	if err != nil {
		return addr, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if addr != d.last {
		d.last = addr
		fmt.Fprintf(d.out, "corral agent: leading master %s\n", addr)
		d.log.Info("leading master found in ZooKeeper", "master", addr)
	}
	return addr, nil
}

// splitPath splits a ':'-separated list of directories, dropping empty
// entries.
func splitPath(v string) []string { return splitOn(v, ":") }

// splitList splits a comma-separated flag, dropping empty entries.
func splitList(v string) []string { return splitOn(v, ",") }

func splitOn(v, sep string) []string {
	var out []string
	for _, p := range strings.Split(v, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
