package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/cplog"
	"github.com/corral-sched/corral/agent/fetcher"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/images"
	"github.com/corral-sched/corral/internal/promreg"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/proto/executorpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// errShutdown ends Run when the master told the agent to shut down.
var errShutdown = errors.New("agent: the master asked this agent to shut down")

// Agent runs tasks for a master. Create it with New, serve Handler, and
// call Run.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	info *mesospb.AgentInfo // without id
	// containers makes, recovers and measures the containers of tasks and
	// executors; it says what the isolation can do.
	containers *containerizer.Containerizer
	// images provisions the roots of containers from images; nil when
	// the agent runs none (images.go).
	images   *images.Provisioner
	fetcher  *fetcher.Fetcher
	metrics  *metrics
	gatherer prometheus.Gatherer

	id        atomic.Pointer[string] // set by the loop once registered
	connected atomic.Bool            // set by the loop while subscribed
	// bootID is picked when the agent starts: with its address it tells
	// the master this is the agent holding its ID coming back, not
	// another agent presenting the same ID.
	bootID string
	// subscribedAt is when the current subscription was acknowledged (unix
	// nanoseconds): load tests measure from it to the first offer.
	subscribedAt atomic.Int64
	// calls bounds the calls to the master in flight at once: a launch of
	// hundreds of tasks would otherwise post hundreds of updates at the
	// same moment, each beyond the transport's idle pool on a connection
	// of its own.
	calls   chan struct{}
	inbox   chan func()
	running atomic.Bool
	stopped chan struct{}
	// shutdown is closed by the loop when the master sends SHUTDOWN, after
	// setting killing: the tasks Run waits for before it returns.
	shutdown chan struct{}
	killing  []*containerizer.Process

	// Owned by the loop goroutine.
	tasks     map[statusupdate.Key]*taskRun
	executors map[execKey]*executorRun
	// checkpointed are the resources the master told this agent to keep
	// (dynamic reservations, persistent volumes); owned by the loop.
	checkpointed []*mesospb.Resource
	updates      *statusupdate.Manager
	// lazyCheckpoints are tasks whose checkpoint is stale in a way a crash
	// could only turn into a duplicate status update (an acknowledgement
	// not yet recorded): written once the loop is idle, not per event.
	lazyCheckpoints map[statusupdate.Key]bool
	// flushDue says a status update became due: flushUpdates runs once the
	// inbox is drained, or after maxHeldFlush more calls, so that a burst's
	// updates leave in a few calls rather than one each. flushHeld counts
	// the calls handled since.
	flushDue  bool
	flushHeld int
	// checkpoints is the log of the tasks' checkpoints (checkpoint.go),
	// open while Run runs.
	checkpoints *cplog.Log
	session     *session // nil while not subscribed
	// sessions are the nested container sessions running or recently
	// ended (attach_session.go); they live off the loop.
	sessions   sessionTable
	retryTimer *time.Timer
}

// New validates cfg and prepares an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.WorkDir, "meta"), 0o755); err != nil {
		return nil, fmt.Errorf("agent: work dir: %w", err)
	}
	res, err := agentResources(cfg.Resources, cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("agent: --resources: %w", err)
	}
	attrs, err := ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, err
	}
	_, portText, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("agent: Addr %q: bad port", cfg.Addr)
	}
	reg, gatherer := promreg.Resolve(cfg.Registerer)
	provisioner, err := newProvisioner(cfg, reg)
	if err != nil {
		return nil, err
	}
	containers, err := containerizer.New(containerizer.Config{
		Images:    provisioner,
		Isolation: cfg.isolation, Root: filepath.Join(cfg.WorkDir, "containers"), SandboxRoot: filepath.Join(cfg.WorkDir, "agents"),
		Hostname: cfg.Hostname, CgroupsRoot: cfg.CgroupsRoot, CFS: cfg.CgroupsEnableCFS, PidsLimit: cfg.ContainerPidsLimit,
		AllowedHostPaths: cfg.AllowedHostPaths, DiskInterval: cfg.DiskWatchInterval, EnforceDisk: cfg.EnforceDiskQuota,
		CNI: cfg.cniConfig(), Logger: cfg.Logger.With("component", "containerizer"),
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		images: provisioner,
		calls:  make(chan struct{}, maxCallsInFlight),
		cfg:    cfg,
		log:    cfg.Logger.With("component", "agent", "addr", cfg.Addr),
		info: &mesospb.AgentInfo{
			Hostname:   proto.String(cfg.Hostname),
			Port:       proto.Int32(int32(port)),
			Resources:  res,
			Attributes: attrs,
		},
		containers:      containers,
		fetcher:         &fetcher.Fetcher{CacheDir: filepath.Join(cfg.WorkDir, "fetcher-cache"), CacheSize: cfg.FetcherCacheSize},
		gatherer:        gatherer,
		inbox:           make(chan func(), 1024),
		stopped:         make(chan struct{}),
		shutdown:        make(chan struct{}),
		tasks:           make(map[statusupdate.Key]*taskRun),
		lazyCheckpoints: make(map[statusupdate.Key]bool),
		executors:       make(map[execKey]*executorRun),
		updates:         statusupdate.New(cfg.StatusUpdateRetry, maxStatusUpdateRetry),
		bootID:          uuid.New().String(),
	}
	if err := a.loadCheckpointedResources(); err != nil {
		return nil, err
	}
	if id, err := os.ReadFile(a.idPath()); err == nil {
		s := strings.TrimSpace(string(id))
		a.id.Store(&s)
	}
	if a.metrics, err = newMetrics(a, reg); err != nil {
		return nil, err
	}
	return a, nil
}

// ID returns the agent's ID, "" until it has registered once.
func (a *Agent) ID() string {
	if p := a.id.Load(); p != nil {
		return *p
	}
	return ""
}

// Connected reports whether the agent is subscribed to a master now.
func (a *Agent) Connected() bool { return a.connected.Load() }

// SubscribedAt is when the master last acknowledged the agent's
// subscription; zero before the first.
func (a *Agent) SubscribedAt() time.Time {
	if ns := a.subscribedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Resources returns what the agent offers.
func (a *Agent) Resources() resources.Resources {
	return resources.Resources(a.info.GetResources()).Clone()
}

// Addr is the host:port the agent serves on.
func (a *Agent) Addr() string { return a.cfg.Addr }

// WorkDir is where the agent keeps sandboxes, volumes and checkpoints.
func (a *Agent) WorkDir() string { return a.cfg.WorkDir }

func (a *Agent) idPath() string { return filepath.Join(a.cfg.WorkDir, "meta", "agent_id") }

// saveID checkpoints the agent ID so that a restarted agent re-registers
// as itself.
func (a *Agent) saveID(id string) error {
	if err := writeFileAtomic(a.idPath(), []byte(id+"\n")); err != nil {
		return fmt.Errorf("agent: checkpointing agent ID: %w", err)
	}
	return nil
}

// Run registers with the master and runs tasks until ctx is done. Tasks
// keep running when it returns: an agent restart must not kill work.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: Run called twice")
	}
	cp, records, err := cplog.Open(a.checkpointLogDir(), a.log)
	if err != nil {
		close(a.stopped)
		return fmt.Errorf("agent: opening the task checkpoints: %w", err)
	}
	a.checkpoints = cp
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { a.loop(loopCtx); close(loopDone) }()
	// The log is closed once the loop, its only writer, has stopped.
	stop := func() { stopLoop(); <-loopDone; _ = a.checkpoints.Close(); close(a.stopped) }
	if err := a.do(ctx, func() { a.recoverTasks(records) }); err != nil {
		stop()
		return fmt.Errorf("agent: recovering tasks: %w", err)
	}
	go a.watchDisk(loopCtx)
	go a.collectImages(loopCtx)
	defer stop()

	backoff := a.cfg.RegisterBackoff
	for {
		started := time.Now()
		err := a.runSession(ctx)
		select {
		case <-a.shutdown:
			return a.awaitKilled()
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > maxRegisterBackoff {
			backoff = a.cfg.RegisterBackoff // the session was healthy for a while
		}
		delay := jitter(backoff)
		a.log.Warn("disconnected from master; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-a.shutdown:
			return a.awaitKilled()
		case <-time.After(delay):
		}
		limit := maxRegisterBackoff
		if a.cfg.Detector != nil {
			// ZooKeeper names the next leader as soon as there is one;
			// retrying often costs a lookup, waiting long costs a failover.
			limit = maxDetectedBackoff
		}
		backoff = min(2*backoff, limit)
	}
}

// awaitKilled waits for the tasks a SHUTDOWN killed to exit (their kill
// escalates to SIGKILL in this process, so it must outlive them).
func (a *Agent) awaitKilled() error {
	limit := time.NewTimer(a.cfg.ExecutorShutdownGrace + 10*time.Second)
	defer limit.Stop()
	for _, p := range a.killing {
		select {
		case <-p.Done():
		case <-limit.C:
			return fmt.Errorf("%w; tasks still running", errShutdown)
		}
	}
	return errShutdown
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
}

// loop runs functions sent to the agent; it owns the task table.
func (a *Agent) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			if a.retryTimer != nil {
				a.retryTimer.Stop()
			}
			return
		case fn := <-a.inbox:
			fn()
			if len(a.lazyCheckpoints) > 0 && len(a.inbox) == 0 {
				a.flushLazyCheckpoints()
			}
			if a.flushDue {
				if a.flushHeld++; len(a.inbox) == 0 || a.flushHeld >= maxHeldFlush {
					a.flushDue, a.flushHeld = false, 0
					a.flushUpdates()
				}
			}
		}
	}
}

// do runs fn on the loop and waits for it. A caller whose ctx ends
// first gets ctx's error, and fn, which writes the caller's variables, is
// then either never run or waited for: it must not run while the caller
// reads them.
func (a *Agent) do(ctx context.Context, fn func()) error {
	const (
		queued = iota
		running
		abandoned
	)
	var state atomic.Int32
	done := make(chan struct{})
	run := func() {
		if state.CompareAndSwap(queued, running) {
			fn()
			close(done)
		}
	}
	select {
	case a.inbox <- run:
	case <-ctx.Done():
		return ctx.Err()
	case <-a.stopped:
		return errors.New("agent: not running")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-done // running now: it ends before the loop does
		return nil
	case <-a.stopped:
		return errors.New("agent: not running")
	}
}

// post runs fn on the loop without waiting.
func (a *Agent) post(fn func()) {
	select {
	case a.inbox <- fn:
	case <-a.stopped:
	}
}

// Shutdown kills every task (SIGTERM, then SIGKILL after its grace period)
// and waits for them to exit or ctx to end. Their terminal updates are
// sent while the agent is connected.
func (a *Agent) Shutdown(ctx context.Context) error {
	var procs []*containerizer.Process
	err := a.do(ctx, func() {
		for _, t := range a.tasks {
			if t.running() {
				procs = append(procs, t.proc)
				a.killTask(t, lifecycle.Killed, "", nil)
			}
		}
		// Custom executors too: they outlive an agent that merely stops
		// (to be recovered), not one that shuts down.
		for _, e := range a.executors {
			if e.proc != nil && !e.gone {
				procs = append(procs, e.proc)
				a.toExecutor(e, &executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
				go func(p *containerizer.Process) { _ = p.Kill(ctx, a.cfg.ExecutorShutdownGrace) }(e.proc)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("agent: shutdown: %w", err)
	}
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-ctx.Done():
			return fmt.Errorf("agent: shutdown: tasks still running: %w", ctx.Err())
		}
	}
	return nil
}

// Handler serves the agent's HTTP endpoints.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"healthy\":true,\"id\":%q,\"version\":%q}\n", a.ID(), version.Version)
	})
	mux.Handle("GET /metrics", a.operators(a.cfg.ACLs.Endpoint("/metrics", promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{}))))
	mux.Handle("GET /state", a.operators(http.HandlerFunc(a.serveState)))
	mux.Handle("/api/v1", a.operators(http.HandlerFunc(a.serveAPI)))
	mux.Handle("GET /api/v1/exec", a.operators(http.HandlerFunc(a.serveExecWS))) // the web UI's terminal (attach_ws.go)
	// Executors hold no operator credentials: with
	// AuthenticateHTTPExecutors they present their own token instead
	// (executor_auth.go), otherwise their API is open, as in Mesos.
	mux.HandleFunc("POST /api/v1/executor", a.serveExecutorAPI)
	mux.Handle("GET /files/browse", anyOrigin(a.operators(http.HandlerFunc(a.serveBrowse))))
	mux.Handle("GET /files/read", anyOrigin(a.operators(http.HandlerFunc(a.serveRead))))
	mux.Handle("GET /files/download", anyOrigin(a.operators(http.HandlerFunc(a.serveDownload))))
	return mux
}

type stateView struct {
	ID        string     `json:"id"`
	Hostname  string     `json:"hostname"`
	Resources string     `json:"resources"`
	Isolation string     `json:"isolation"` // the isolators it runs, expanded
	Connected bool       `json:"connected"`
	Tasks     []taskView `json:"tasks"`
}

type taskView struct {
	ID          string `json:"id"`
	FrameworkID string `json:"framework_id"`
	State       string `json:"state"`
	Sandbox     string `json:"sandbox"`
	Pid         int    `json:"pid,omitempty"`
}

func (a *Agent) serveState(w http.ResponseWriter, r *http.Request) {
	v := stateView{ID: a.ID(), Hostname: a.info.GetHostname(), Resources: resources.Resources(a.info.GetResources()).String(),
		Isolation: a.containers.Isolation().String()}
	may := viewer{acls: a.cfg.ACLs, principal: auth.Principal(r.Context())}
	err := a.do(r.Context(), func() {
		v.Connected = a.session != nil
		for k, t := range a.tasks {
			if !may.task(t) {
				continue
			}
			tv := taskView{ID: k.TaskID, FrameworkID: k.FrameworkID, State: t.state.String(), Sandbox: t.sandbox}
			if t.proc != nil {
				tv.Pid = t.proc.Pid
			}
			v.Tasks = append(v.Tasks, tv)
		}
	})
	if err != nil {
		http.Error(w, "agent is not running: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
