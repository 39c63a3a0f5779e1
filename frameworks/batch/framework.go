package batch

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// Config configures the framework.
type Config struct {
	// Master or Detector finds the leading master (see sdk.Config).
	Master   string
	Detector sdk.Detector
	// Principal and Secret authenticate the framework to the master.
	Principal, Secret string
	// TLS, if set, verifies the master, which is then called over https.
	TLS *tls.Config
	// APICredentials, if set, are the principals and secrets the REST API
	// requires (HTTP Basic, 401 otherwise); /health stays open for probes.
	APICredentials auth.Credentials
	// Store keeps jobs, runs and the framework ID.
	Store store.Store
	// Name and User of the framework; defaults "batch" and "root".
	Name, User string
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away; default one week.
	FailoverTimeout time.Duration
	// TickInterval paces deadlines, schedules, retries and the group
	// commit of state before acknowledgements; default 20 ms.
	TickInterval time.Duration
	// Now is the clock; tests replace it.
	Now    func() time.Time
	Logger *slog.Logger
	// OnUpdate, if set, sees every status update as it arrives (tests
	// and instrumentation).
	OnUpdate func(*mesospb.TaskStatus)
}

// Framework is the batch framework.
type Framework struct {
	cfg   Config
	log   *slog.Logger
	sched *sdk.Scheduler
	// recon asks again, backing off, about tasks a reconciliation had no
	// answer for, and about launches whose ACCEPT failed.
	recon *sdk.Reconciler

	mu         sync.Mutex
	jobs       map[string]*jobState
	runs       map[string]*Run // active and history, by run ID
	byTask     map[string]taskRef
	outbox     kit.Outbox[taskRef]
	suppressed map[string]bool // roles suppressed at the master
	resync     bool            // after (re)subscribing: tell the master again

	// durable commits jobs and runs to the store; loop ticks.
	durable    *kit.Durable
	jobRecords *kit.Table
	runRecords *kit.Table
	loop       *kit.Loop
}

// jobState is a job and its schedule's bookkeeping.
type jobState struct {
	Spec    Job       `json:"spec"`
	Runs    int       `json:"runs"` // runs started, numbering them
	LastRun string    `json:"lastRun,omitempty"`
	NextRun time.Time `json:"nextRun,omitzero"`
	// Missed counts scheduled times that passed without a run (downtime,
	// starting deadline); Skipped those Forbid skipped.
	Missed  int `json:"missed"`
	Skipped int `json:"skipped"`
}

type taskRef struct {
	run     string
	index   int
	taskID  string
	agentID string
}

const (
	keyJobs        = "batch/jobs"
	keyRuns        = "batch/runs"
	keyFrameworkID = "batch/framework-id"
)

// New loads the framework's state from cfg.Store.
func New(ctx context.Context, cfg Config) (*Framework, error) {
	settings := kit.Settings{Master: cfg.Master, Detector: cfg.Detector, Principal: cfg.Principal, Secret: cfg.Secret, TLS: cfg.TLS,
		Store: cfg.Store, Name: &cfg.Name, User: &cfg.User, FailoverTimeout: &cfg.FailoverTimeout,
		TickInterval: &cfg.TickInterval, Now: &cfg.Now, Logger: &cfg.Logger}
	if err := settings.Fill("batch"); err != nil {
		return nil, err
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "batch"),
		jobs: make(map[string]*jobState), runs: make(map[string]*Run), byTask: make(map[string]taskRef),
		recon:      sdk.NewReconciler(0, 0),
		suppressed: make(map[string]bool),
	}
	// Batch writes key by key even to a store that batches, as it did
	// before the kit: one batch would make its flushes all-or-nothing,
	// which its tests were not written against.
	f.durable = kit.NewDurable(cfg.Store, &f.mu, kit.DurableOptions{Name: "batch", Unbatched: true})
	f.jobRecords = f.durable.Table(keyJobs, kit.JSONIn(f.jobs))
	f.runRecords = f.durable.Table(keyRuns, func(id string) ([]byte, bool, error) {
		r := f.runs[id]
		if r == nil {
			return nil, false, nil
		}
		b, err := r.stored()
		return b, err == nil, err
	})
	f.loop = kit.NewLoop(cfg.TickInterval, f.Tick, nil)
	if err := f.load(ctx); err != nil {
		return nil, err
	}
	roles := []string{DefaultRole}
	for _, j := range f.jobs {
		if !slices.Contains(roles, j.Spec.Role) {
			roles = append(roles, j.Spec.Role)
		}
	}
	info := kit.FrameworkInfo(cfg.User, cfg.Name, roles, cfg.FailoverTimeout, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	var err error
	f.sched, err = settings.NewScheduler(info, keyFrameworkID, sdk.HandlerFunc(f.handle))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// load reads jobs and runs back and indexes the runs' live tasks.
func (f *Framework) load(ctx context.Context) error {
	err := kit.LoadJSON(ctx, f.cfg.Store, keyJobs, func(js *jobState) { f.jobs[js.Spec.ID] = js })
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	err = kit.LoadJSON(ctx, f.cfg.Store, keyRuns, func(r *Run) {
		if r.Tasks == nil {
			r.Tasks = make(map[int]*TaskRecord)
		}
		f.runs[r.ID] = r
		for _, t := range r.Tasks {
			if t.State == taskLaunching || t.State == taskRunning {
				f.byTask[t.TaskID] = taskRef{run: r.ID, index: t.Index, taskID: t.TaskID, agentID: t.AgentID}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	f.log.Info("state loaded", "jobs", len(f.jobs), "runs", len(f.runs), "live tasks", len(f.byTask))
	return nil
}

// FrameworkID is the framework's ID once subscribed.
func (f *Framework) FrameworkID() string { return f.sched.FrameworkID() }

// Run runs the framework until ctx ends. Tasks keep running when it
// returns; a new instance on the same store adopts them.
func (f *Framework) Run(ctx context.Context) error {
	return f.loop.Run(ctx, f.sched.Run)
}

// Tick runs the framework's timers once: run deadlines, schedules,
// history expiry; then it writes what changed and acknowledges the status
// updates that are now durable, and asks the master for offers (or to stop
// them) as the work requires. Run calls it every TickInterval; tests with
// a fake clock call it directly.
func (f *Framework) Tick(ctx context.Context) {
	f.mu.Lock()
	now := f.cfg.Now()
	f.checkDeadlines(now)
	f.runSchedules(now)
	f.expireHistory(now)
	revive, suppress := f.offerWishes(now)
	taken := f.outbox.Take()
	f.mu.Unlock()

	if !kit.FlushBeforeSending(ctx, f.durable, &f.outbox, taken, f.log, nil) {
		return
	}
	kit.Acknowledge(ctx, f.sched, f.log, taken.Acks, 1)
	for _, k := range taken.Kills {
		if err := f.sched.Kill(ctx, k.taskID, k.agentID); err != nil {
			f.log.Warn("kill not sent", "task", k.taskID, "err", err)
		}
	}
	if err := f.recon.Tick(ctx, f.sched, now); err != nil {
		f.log.Debug("reconciliation not sent; asked again later", "err", err)
	}
	if len(revive) > 0 {
		if err := f.sched.Revive(ctx, revive...); err != nil {
			f.retrySync() // try again next tick
		}
	}
	if len(suppress) > 0 {
		if err := f.sched.Suppress(ctx, suppress...); err != nil {
			f.retrySync()
		}
	}
}

func (f *Framework) retrySync() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resync = true
}

// Submit creates or replaces a job and starts a run of it, durably; it is
// what PUT /v1/jobs/{id} followed by a trigger does, for programs that
// embed the framework.
func (f *Framework) Submit(job Job) (string, error) {
	if err := job.normalize(); err != nil {
		return "", err
	}
	f.mu.Lock()
	if err := f.checkDependencies(&job); err != nil {
		f.mu.Unlock()
		return "", err
	}
	js := f.jobs[job.ID]
	if js == nil {
		js = &jobState{}
		f.jobs[job.ID] = js
	}
	js.Spec = job
	f.jobRecords.Mark(job.ID)
	r := f.startRun(js, "manual", f.cfg.Now(), time.Time{})
	f.mu.Unlock()
	return r.ID, f.durable.Flush(context.Background())
}

// RunStatus returns a copy of a run's summary.
func (f *Framework) RunStatus(id string) (Run, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.runs[id]
	if r == nil {
		return Run{}, false
	}
	cp := *r
	cp.Tasks, cp.Done = nil, nil
	return cp, true
}
