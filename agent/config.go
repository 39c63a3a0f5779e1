package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Config holds what an agent needs to run.
type Config struct {
	// Master is the host:port of a master; redirects to the leader are
	// followed.
	Master string
	// Detector, if set, names the leading master before every
	// subscription (ZooKeeper detection); Master is then not needed.
	Detector Detector
	// Addr is the host:port this agent's HTTP server is reachable at.
	Addr string
	// Hostname is advertised to the master; default os.Hostname.
	Hostname string
	// WorkDir holds sandboxes and the agent's checkpointed metadata.
	WorkDir string
	// Resources in --resources syntax; empty detects them.
	Resources string
	// Attributes such as "rack:a;zone:z1".
	Attributes string
	// Isolation is Mesos' --isolation: a comma-separated list of
	// isolators (cgroups/mem,namespaces/pid,filesystem/linux,...), or a
	// shorthand: "posix" (process groups on the host, the default),
	// "linux" (a container per task through libcontainer: cgroups,
	// namespaces, a root of its own), "auto" (linux where it can run, else
	// posix) or "sim" (nothing forked: simulated agents for load tests).
	// See isolators.Shorthands for the lists they stand for.
	Isolation string
	// isolation is Isolation expanded, by setDefaults.
	isolation isolators.Selection
	// CgroupsRoot is the cgroup containers go under (default /corral);
	// CgroupsEnableCFS enforces cpus as a hard CFS quota;
	// ContainerPidsLimit caps processes per container (0: none);
	// IsolateNetwork gives containers a network namespace with loopback
	// only instead of the host's network.
	// ExecutorRegistrationTimeout is how long a custom executor has to
	// subscribe before its tasks fail (default 1 minute).
	ExecutorRegistrationTimeout time.Duration

	// FetcherCacheSize bounds the cache of fetched URIs (default 2 GiB).
	FetcherCacheSize int64

	// AllowedHostPaths are the host directories tasks may mount
	// (ContainerInfo volumes of type HOST_PATH); none by default.
	AllowedHostPaths []string

	// ImageProviders is Mesos' --image_providers: "docker" lets tasks
	// name images (ContainerInfo.mesos.image, or type DOCKER), which need
	// filesystem/linux. DockerRegistry is the default registry (URL,
	// host[:port]) or a directory of image archives; DockerStoreDir holds
	// the layer store (default WorkDir/store/docker); DockerConfig is a
	// Docker config.json (path or JSON) with registry credentials;
	// DockerInsecureRegistries are spoken to over plain HTTP;
	// DockerPullTimeout bounds one pull (0: none);
	// ImageProvisionerBackend is overlay (default) or copy; ImageGC
	// collects the store (images.go).
	ImageProviders           []string
	DockerRegistry           string
	DockerStoreDir           string
	DockerConfig             string
	DockerInsecureRegistries []string
	DockerPullTimeout        time.Duration
	ImageProvisionerBackend  string
	ImageGC                  ImageGC

	// DiskWatchInterval is how often sandboxes are measured and garbage
	// collected (default 15 s); EnforceDiskQuota kills tasks over their
	// disk; GCDelay is how long a finished task's sandbox is kept
	// (default one week, less under disk pressure).
	DiskWatchInterval time.Duration
	EnforceDiskQuota  bool
	GCDelay           time.Duration

	CgroupsRoot        string
	CgroupsEnableCFS   bool
	ContainerPidsLimit int64
	IsolateNetwork     bool

	// NetworkCNIConfigDir holds CNI network configurations (Mesos'
	// --network_cni_config_dir); setting it adds network/cni to the
	// isolation. NetworkCNIPluginsDirs are searched for the plugins
	// (default /usr/lib/cni). DNS, if set, is the nameservers containers
	// on CNI networks get in their resolv.conf (corral dns).
	NetworkCNIConfigDir   string
	NetworkCNIPluginsDirs []string
	DNS                   []string

	// StatusUpdateRetry is the first re-send interval of unacknowledged
	// status updates; it doubles up to ten minutes.
	StatusUpdateRetry time.Duration
	// ExecutorShutdownGrace is the kill grace period when a task has no
	// KillPolicy.
	ExecutorShutdownGrace time.Duration
	// RegisterBackoff is the first reconnect delay; it doubles to 30 s.
	RegisterBackoff time.Duration

	// Principal and Secret, if set, authenticate the agent to the master
	// (HTTP Basic; masters run with --authenticate-agents require it).
	Principal, Secret string
	// MasterTLS, if set, verifies masters: the agent calls them over https.
	MasterTLS *tls.Config
	// ExecutorTLSCA, when the agent serves TLS, is the CA file its
	// executors verify it with (LIBPROCESS_SSL_CA_FILE).
	ExecutorTLSCA string

	// Credentials are the principals and secrets operators authenticate
	// with. With AuthenticateHTTP the operator endpoints (/state,
	// /metrics, /api/v1, /files/*) require them; /health stays open, and
	// the executor API is for AuthenticateHTTPExecutors to guard
	// (executors hold tokens, not credentials).
	Credentials      auth.Credentials
	AuthenticateHTTP bool
	// AuthenticateHTTPExecutors gives each executor launched here a
	// token (MESOS_EXECUTOR_AUTHENTICATION_TOKEN) and requires it, as a
	// bearer token, on every executor call: an executor can then act only
	// as itself. Mesos' --authenticate_http_executors.
	AuthenticateHTTPExecutors bool
	executorKey               []byte // signs executors' tokens; loaded by setDefaults
	// ACLs authorize operators: access_sandboxes guards the files
	// endpoints and LIST_FILES/READ_FILE, view_frameworks, view_tasks and
	// view_executors filter the state endpoints. nil allows everything.
	ACLs *acl.ACLs

	// Flags are the settings the agent was started with, as GET_FLAGS
	// reports them (secrets redacted there); "isolation" is reported
	// expanded.
	Flags map[string]string

	HTTPClient *http.Client
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

const (
	defaultStatusUpdateRetry = 10 * time.Second
	maxStatusUpdateRetry     = 10 * time.Minute
	defaultShutdownGrace     = 3 * time.Second
	defaultRegisterBackoff   = 500 * time.Millisecond
	maxRegisterBackoff       = 30 * time.Second
	maxDetectedBackoff       = 2 * time.Second
)

// Detector finds the leading master.
type Detector interface {
	Leader(ctx context.Context) (string, error) // host:port
}

func (c *Config) setDefaults() error {
	if c.Detector == nil {
		if c.Master == "" {
			return errors.New("agent: config: Master (host:port) or a Detector is required")
		}
		if _, _, err := net.SplitHostPort(c.Master); err != nil {
			return fmt.Errorf("agent: config: Master %q: %w", c.Master, err)
		}
	}
	if c.AuthenticateHTTP && len(c.Credentials) == 0 {
		return errors.New("agent: config: AuthenticateHTTP needs Credentials (--credentials FILE)")
	}
	if c.Addr == "" {
		return errors.New("agent: config: Addr (host:port) is required")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("agent: config: Addr %q: %w", c.Addr, err)
	}
	if c.WorkDir == "" {
		return errors.New("agent: config: WorkDir is required")
	}
	// Sandbox paths reach tasks' environments and identify their
	// containers at recovery: they must not depend on the cwd.
	abs, err := filepath.Abs(c.WorkDir)
	if err != nil {
		return fmt.Errorf("agent: config: WorkDir %q: %w", c.WorkDir, err)
	}
	c.WorkDir = abs
	if c.Isolation == "" {
		c.Isolation = "posix"
	}
	sel, err := isolators.Expand(c.Isolation, isolators.Env{Linux: containerizer.LinuxAvailable()})
	if err != nil {
		return fmt.Errorf("agent: config: %w", err)
	}
	if c.IsolateNetwork && !sel.Has("namespaces/net") {
		// --network isolated: the network namespace with loopback only.
		if sel, err = isolators.Expand(sel.String()+",namespaces/net", isolators.Env{Linux: containerizer.LinuxAvailable()}); err != nil {
			return fmt.Errorf("agent: config: an isolated network: %w", err)
		}
	}
	if sel, err = c.networkDefaults(sel); err != nil {
		return err
	}
	c.isolation = sel
	if err := c.setImageDefaults(); err != nil {
		return err
	}
	if c.ExecutorRegistrationTimeout <= 0 {
		c.ExecutorRegistrationTimeout = time.Minute
	}
	if c.FetcherCacheSize <= 0 {
		c.FetcherCacheSize = 2 << 30
	}
	if c.DiskWatchInterval <= 0 {
		c.DiskWatchInterval = 15 * time.Second
	}
	if c.GCDelay <= 0 {
		c.GCDelay = 7 * 24 * time.Hour
	}
	if c.CgroupsRoot == "" {
		c.CgroupsRoot = "/corral"
	}
	if !strings.HasPrefix(c.CgroupsRoot, "/") {
		return fmt.Errorf("agent: config: CgroupsRoot %q must be an absolute cgroup path", c.CgroupsRoot)
	}
	if c.ContainerPidsLimit < 0 {
		return fmt.Errorf("agent: config: ContainerPidsLimit must not be negative, got %d", c.ContainerPidsLimit)
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent: config: hostname: %w", err)
		}
		c.Hostname = h
	}
	if c.StatusUpdateRetry <= 0 {
		c.StatusUpdateRetry = defaultStatusUpdateRetry
	}
	if c.ExecutorShutdownGrace <= 0 {
		c.ExecutorShutdownGrace = defaultShutdownGrace
	}
	if c.RegisterBackoff <= 0 {
		c.RegisterBackoff = defaultRegisterBackoff
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     c.MasterTLS,
		}}
	}
	if c.Principal != "" {
		cl := *c.HTTPClient
		cl.Transport = &auth.Transport{Base: cl.Transport, Principal: c.Principal, Secret: c.Secret}
		c.HTTPClient = &cl
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AuthenticateHTTPExecutors {
		// Last, so that a config refused for another reason leaves no key.
		key, err := loadExecutorKey(filepath.Join(c.WorkDir, "meta"))
		if err != nil {
			return fmt.Errorf("agent: config: AuthenticateHTTPExecutors: %w", err)
		}
		c.executorKey = key
	}
	return nil
}

// agentResources parses the configured resources, filling in what is not
// given from the machine.
func agentResources(text, workDir string) (resources.Resources, error) {
	given, err := resources.Parse(text, "*")
	if err != nil {
		return nil, err
	}
	names := given.Names()
	has := func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
	detected := resources.Resources{}
	if !has("cpus") {
		detected = append(detected, resources.Scalar("cpus", float64(runtime.NumCPU())))
	}
	if !has("mem") {
		if mb, err := memoryMB(); err == nil {
			detected = append(detected, resources.Scalar("mem", leaveFloor(mb, 1024)))
		}
	}
	if !has("disk") {
		var st syscall.Statfs_t
		if err := syscall.Statfs(workDir, &st); err == nil {
			mb := float64(st.Bavail) * float64(st.Bsize) / (1 << 20)
			detected = append(detected, resources.Scalar("disk", leaveFloor(mb, 5*1024)))
		}
	}
	if !has("ports") {
		detected = append(detected, resources.Range("ports", 31000, 32000))
	}
	return given.Add(detected), nil
}

// leaveFloor keeps reserve for the system, but never more than half.
func leaveFloor(total, reserve float64) float64 {
	return float64(int64(max(total-reserve, total/2)))
}

func memoryMB() (float64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("agent: no MemTotal in /proc/meminfo")
}

// ParseAttributes reads "name:value;..." the way Mesos agents do: numbers
// are scalars, [a-b] ranges, {x,y} sets, anything else text.
func ParseAttributes(text string) ([]*mesospb.Attribute, error) {
	var out []*mesospb.Attribute
	for _, entry := range strings.Split(text, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, value, ok := strings.Cut(entry, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("agent: attribute %q: expecting name:value", entry)
		}
		a := &mesospb.Attribute{Name: proto.String(name)}
		switch {
		case strings.HasPrefix(value, "[") || strings.HasPrefix(value, "{"):
			r, err := resources.Parse(name+":"+value, "*")
			if err != nil || len(r) != 1 {
				return nil, fmt.Errorf("agent: attribute %q: bad value %q", name, value)
			}
			a.Type, a.Ranges, a.Set = r[0].Type, r[0].Ranges, r[0].Set
		default:
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				a.Type = mesospb.Value_SCALAR.Enum()
				a.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(v)}
			} else {
				a.Type = mesospb.Value_TEXT.Enum()
				a.Text = &mesospb.Value_Text{Value: proto.String(value)}
			}
		}
		out = append(out, a)
	}
	return out, nil
}
