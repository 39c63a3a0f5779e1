// Package guide is the framework docs/frameworks.md builds step by step:
// it runs a fixed set of jobs (shell commands) on a corral cluster until
// each has succeeded once, retrying failed ones, and survives its own
// restarts and the master's failovers without running a job twice at once.
package guide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// Config says what to run, and where.
type Config struct {
	// Master is a master's host:port; Detector, if set, finds the leading
	// master instead (masters under ZooKeeper).
	Master   string
	Detector sdk.Detector
	// Store keeps the framework ID and the jobs' progress.
	Store store.Store
	// Jobs maps each job's name to its shell command.
	Jobs map[string]string
	// Logger receives the SDK's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Job is what the framework knows of one job, kept in the Store.
type Job struct {
	Task     string `json:"task"` // the current attempt's task ID; "" when none runs
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
}

const maxAttempts = 3

// Framework is the job runner.
type Framework struct {
	cfg   Config
	sched *sdk.Scheduler
	jobs  map[string]*Job
}

// New loads the jobs' progress and prepares the framework.
func New(ctx context.Context, cfg Config) (*Framework, error) {
	f := &Framework{cfg: cfg, jobs: make(map[string]*Job)}
	if e, err := cfg.Store.Get(ctx, "guide/jobs"); err == nil {
		if err := json.Unmarshal(e.Value, &f.jobs); err != nil {
			return nil, fmt.Errorf("guide: the stored jobs: %w", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("guide: loading the jobs: %w", err)
	}
	for name := range cfg.Jobs {
		if name == "" || strings.Contains(name, ".") {
			return nil, fmt.Errorf("guide: job name %q: want a name without dots", name)
		}
		if f.jobs[name] == nil {
			f.jobs[name] = &Job{}
		}
	}
	sched, err := sdk.New(sdk.Config{
		Master: cfg.Master, Detector: cfg.Detector,
		Framework: &mesospb.FrameworkInfo{
			User: proto.String("root"), Name: proto.String("guide"), Roles: []string{"guide"},
			// Away for up to an hour (a restart, a new leader), we find
			// our tasks still running.
			FailoverTimeout: proto.Float64(3600),
			Capabilities: []*mesospb.FrameworkInfo_Capability{
				{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
				{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
			},
		},
		// The framework ID outlives the process: a restart fails over.
		IDStore: sdk.StoreIDStore{Store: cfg.Store, Key: "guide/framework-id"},
		Logger:  cfg.Logger,
	}, f)
	f.sched = sched
	return f, err
}

// save records the jobs' progress; it is durable when save returns.
func (f *Framework) save(ctx context.Context) error {
	b, err := json.Marshal(f.jobs)
	if err == nil {
		_, err = f.cfg.Store.Put(ctx, "guide/jobs", b, store.AnyVersion)
	}
	return err
}

// Run schedules until every job has succeeded (nil), one has failed
// maxAttempts times, or ctx ends.
func (f *Framework) Run(ctx context.Context) error {
	if done, err := f.outcome(); done {
		return err
	}
	if err := f.sched.Run(ctx); err != nil && !errors.Is(err, sdk.ErrTornDown) {
		return err
	}
	if done, err := f.outcome(); done {
		return err
	}
	return ctx.Err()
}
