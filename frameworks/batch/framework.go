package batch

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
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

	mu         sync.Mutex
	jobs       map[string]*jobState
	runs       map[string]*Run // active and history, by run ID
	byTask     map[string]taskRef
	dirtyRuns  map[string]bool
	dirtyJobs  map[string]bool
	deleted    []string // store keys to delete at the next flush
	acks       []*mesospb.TaskStatus
	kills      []taskRef
	suppressed map[string]bool // roles suppressed at the master
	resync     bool            // after (re)subscribing: tell the master again
	wake       chan struct{}

	flushMu sync.Mutex // one writer to the store at a time
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
	if cfg.Store == nil {
		return nil, errors.New("batch: config: Store is required")
	}
	if cfg.Name == "" {
		cfg.Name = "batch"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 7 * 24 * time.Hour
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 20 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "batch"),
		jobs: make(map[string]*jobState), runs: make(map[string]*Run), byTask: make(map[string]taskRef),
		dirtyRuns: make(map[string]bool), dirtyJobs: make(map[string]bool), suppressed: make(map[string]bool),
		wake: make(chan struct{}, 1),
	}
	if err := f.load(ctx); err != nil {
		return nil, err
	}
	roles := []string{DefaultRole}
	for _, j := range f.jobs {
		if !slices.Contains(roles, j.Spec.Role) {
			roles = append(roles, j.Spec.Role)
		}
	}
	info := &mesospb.FrameworkInfo{
		User: proto.String(cfg.User), Name: proto.String(cfg.Name), Roles: roles,
		FailoverTimeout: proto.Float64(cfg.FailoverTimeout.Seconds()),
		Capabilities:    []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}},
	}
	var err error
	f.sched, err = sdk.New(sdk.Config{
		Master: cfg.Master, Detector: cfg.Detector, Framework: info, Logger: cfg.Logger,
		Principal: cfg.Principal, Secret: cfg.Secret, TLS: cfg.TLS,
		IDStore:        sdk.StoreIDStore{Store: cfg.Store, Key: keyFrameworkID},
		DisableAutoAck: true, // acknowledged once what an update says is durable
	}, sdk.HandlerFunc(f.handle))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// load reads jobs and runs back and indexes the runs' live tasks.
func (f *Framework) load(ctx context.Context) error {
	jobs, err := f.cfg.Store.List(ctx, keyJobs)
	if err != nil {
		return fmt.Errorf("batch: loading jobs: %w", err)
	}
	for _, e := range jobs {
		js := &jobState{}
		if err := json.Unmarshal(e.Value, js); err != nil {
			return fmt.Errorf("batch: job %s: %w", e.Key, err)
		}
		f.jobs[js.Spec.ID] = js
	}
	runs, err := f.cfg.Store.List(ctx, keyRuns)
	if err != nil {
		return fmt.Errorf("batch: loading runs: %w", err)
	}
	for _, e := range runs {
		r := &Run{}
		if err := json.Unmarshal(e.Value, r); err != nil {
			return fmt.Errorf("batch: run %s: %w", e.Key, err)
		}
		if r.Tasks == nil {
			r.Tasks = make(map[int]*TaskRecord)
		}
		f.runs[r.ID] = r
		for _, t := range r.Tasks {
			if t.State == taskLaunching || t.State == taskRunning {
				f.byTask[t.TaskID] = taskRef{run: r.ID, index: t.Index, taskID: t.TaskID, agentID: t.AgentID}
			}
		}
	}
	f.log.Info("state loaded", "jobs", len(f.jobs), "runs", len(f.runs), "live tasks", len(f.byTask))
	return nil
}

// FrameworkID is the framework's ID once subscribed.
func (f *Framework) FrameworkID() string { return f.sched.FrameworkID() }

// Run runs the framework until ctx ends. Tasks keep running when it
// returns; a new instance on the same store adopts them.
func (f *Framework) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(f.cfg.TickInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-f.wake:
			}
			f.Tick(ctx)
		}
	}()
	err := f.sched.Run(ctx)
	<-done
	return err
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
	acks, kills := f.acks, f.kills
	f.acks, f.kills = nil, nil
	f.mu.Unlock()

	if err := f.flush(ctx); err != nil {
		f.log.Error("could not write state; updates stay unacknowledged", "err", err)
		f.mu.Lock()
		f.acks = append(acks, f.acks...)
		f.kills = append(kills, f.kills...)
		f.mu.Unlock()
		return
	}
	for _, st := range acks {
		if err := f.sched.Acknowledge(ctx, st); err != nil {
			f.log.Debug("acknowledgement not sent; the agent will resend the update", "task", st.GetTaskId().GetValue(), "err", err)
		}
	}
	for _, k := range kills {
		if err := f.sched.Kill(ctx, k.taskID, k.agentID); err != nil {
			f.log.Warn("kill not sent", "task", k.taskID, "err", err)
		}
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

// poke asks the loop for a tick soon.
func (f *Framework) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// flush writes dirty jobs and runs, and deletes what was removed.
func (f *Framework) flush(ctx context.Context) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	type write struct {
		key   string
		value []byte
	}
	var writes []write
	for id := range f.dirtyJobs {
		if js := f.jobs[id]; js != nil {
			b, err := json.Marshal(js)
			if err != nil {
				f.mu.Unlock()
				return err
			}
			writes = append(writes, write{keyJobs + "/" + id, b})
		}
	}
	for id := range f.dirtyRuns {
		if r := f.runs[id]; r != nil {
			b, err := r.stored()
			if err != nil {
				f.mu.Unlock()
				return err
			}
			writes = append(writes, write{keyRuns + "/" + id, b})
		}
	}
	deleted := f.deleted
	dirtyJobs, dirtyRuns := f.dirtyJobs, f.dirtyRuns
	f.dirtyJobs, f.dirtyRuns, f.deleted = make(map[string]bool), make(map[string]bool), nil
	f.mu.Unlock()

	var err error
	for _, w := range writes {
		if _, e := f.cfg.Store.Put(ctx, w.key, w.value, store.AnyVersion); e != nil {
			err = fmt.Errorf("batch: writing %s: %w", w.key, e)
			break
		}
	}
	if err == nil {
		for _, key := range deleted {
			if e := f.cfg.Store.Delete(ctx, key, store.AnyVersion); e != nil && !errors.Is(e, store.ErrNotFound) {
				err = fmt.Errorf("batch: deleting %s: %w", key, e)
				break
			}
		}
	}
	if err != nil {
		// Mark everything dirty again: nothing is lost, only delayed.
		f.mu.Lock()
		for id := range dirtyJobs {
			f.dirtyJobs[id] = true
		}
		for id := range dirtyRuns {
			f.dirtyRuns[id] = true
		}
		f.deleted = append(f.deleted, deleted...)
		f.mu.Unlock()
	}
	return err
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
	f.dirtyJobs[job.ID] = true
	r := f.startRun(js, "manual", f.cfg.Now(), time.Time{})
	f.mu.Unlock()
	return r.ID, f.flush(context.Background())
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
