// Package fanout is a fan-out-and-collect job runner on the corral SDK: it
// runs one command for each of N shards in parallel across the cluster,
// retries a failed shard (on another agent when there is one), and
// collects each shard's output, its task's stdout read back from its
// agent, in shard order. Status serves the job's progress over HTTP.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// Config describes a job.
type Config struct {
	// Master is a master's host:port; Detector, if set, finds the leading
	// master instead.
	Master   string
	Detector sdk.Detector
	// Command is run once per shard by /bin/sh, with SHARD (0 to
	// Shards-1) and SHARDS in its environment. What it prints on stdout is
	// the shard's output; exiting non-zero fails the attempt.
	Command string
	Shards  int
	// CPUs and Mem are each shard's share; default 0.1 and 32 (MiB).
	CPUs, Mem float64
	// Retries is how many times a failed shard is tried again; default 2,
	// negative for none.
	Retries int
	// MaxOutput bounds what is kept of one shard's stdout; default 1 MiB.
	MaxOutput int64
	// HTTPClient reads outputs from the agents; default a client of its
	// own with a ten-second timeout.
	HTTPClient *http.Client
	// Logger receives the job's and the SDK's logs; default slog.Default().
	Logger *slog.Logger
}

// Shard states, as Status shows them.
const (
	Waiting  = "waiting"
	Running  = "running"
	Finished = "finished"
	Failed   = "failed"
)

// Shard is one shard's progress.
type Shard struct {
	Index    int    `json:"index"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// Task is the latest attempt's task ID, Agent the hostname it ran on.
	Task  string `json:"task,omitempty"`
	Agent string `json:"agent,omitempty"`
	// Output is what the shard printed, once it finished.
	Output string `json:"output,omitempty"`
	// Error says why the latest attempt failed.
	Error string `json:"error,omitempty"`

	agentID  string          // of the latest attempt
	agentURL string          // where the latest attempt's agent serves its sandboxes
	failedOn map[string]bool // agent IDs
}

// Job is one run of the fan-out.
type Job struct {
	cfg   Config
	sched *sdk.Scheduler
	log   *slog.Logger

	mu     sync.Mutex
	shards []*Shard           // guarded by mu
	agents map[string]bool    // guarded by mu; every agent ID offered so far
	err    error              // guarded by mu; why the job failed
	stop   context.CancelFunc // set by Run, called on the handler's goroutine
}

// New checks cfg and prepares a job.
func New(cfg Config) (*Job, error) {
	switch {
	case cfg.Shards < 1:
		return nil, fmt.Errorf("fanout: %d shards: want at least one", cfg.Shards)
	case strings.TrimSpace(cfg.Command) == "":
		return nil, errors.New("fanout: the command is empty")
	case cfg.CPUs < 0 || cfg.Mem < 0:
		return nil, errors.New("fanout: cpus and mem must not be negative")
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 0.1
	}
	if cfg.Mem == 0 {
		cfg.Mem = 32
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = 1 << 20
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	j := &Job{cfg: cfg, log: cfg.Logger.With("framework", "fanout"), agents: make(map[string]bool)}
	for i := range cfg.Shards {
		j.shards = append(j.shards, &Shard{Index: i, State: Waiting, failedOn: make(map[string]bool)})
	}
	sched, err := sdk.New(sdk.Config{
		Master: cfg.Master, Detector: cfg.Detector, Logger: cfg.Logger,
		Framework: &mesospb.FrameworkInfo{
			User: proto.String("root"), Name: proto.String("fanout"),
			// A master failover does not cost the shards that run.
			FailoverTimeout: proto.Float64(60),
			Capabilities: []*mesospb.FrameworkInfo_Capability{
				{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
			},
		},
	}, sdk.HandlerFunc(j.handle))
	if err != nil {
		return nil, err
	}
	j.sched = sched
	return j, nil
}

// Run runs the job and returns every shard's output in shard order, or
// why it failed (a shard failed on every try), or ctx's error.
func (j *Job) Run(ctx context.Context) ([]string, error) {
	inner, stop := context.WithCancel(ctx)
	defer stop()
	j.mu.Lock()
	j.stop = stop
	j.mu.Unlock()
	err := j.sched.Run(inner)
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.err != nil:
		return nil, j.err
	case err != nil && !errors.Is(err, sdk.ErrTornDown):
		return nil, err
	case !j.allFinishedLocked():
		return nil, ctx.Err()
	}
	out := make([]string, len(j.shards))
	for i, s := range j.shards {
		out[i] = s.Output
	}
	return out, nil
}

func (j *Job) allFinishedLocked() bool {
	for _, s := range j.shards {
		if s.State != Finished {
			return false
		}
	}
	return true
}

func (j *Job) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		// Every subscription starts unsuppressed; say at once if idle.
		if j.idle() {
			return j.sched.Suppress(ctx)
		}
	case schedulerpb.Event_OFFERS:
		return j.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		return j.update(ctx, ev.GetUpdate().GetStatus())
	}
	return nil
}

// taskID names a shard's attempt: shard-3.2 is shard 3's second.
func taskID(shard, attempt int) string { return fmt.Sprintf("shard-%d.%d", shard, attempt) }

// parseTaskID is the shard of a task ID, or -1.
func parseTaskID(id string) int {
	rest, ok := strings.CutPrefix(id, "shard-")
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(rest, ".")
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}
