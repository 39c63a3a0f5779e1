// Package service is corral's framework for long-running services: apps in
// Marathon's JSON shape, kept at their instance count on the cluster, with
// constraints, ports, health and readiness checks, rolling upgrades,
// backoff and self-healing, behind Marathon's REST API (/v2/apps,
// /v2/deployments, /v2/queue, /v2/events).
//
// Desired state (apps, their versions, deployments) and the instances the
// framework launched live in a store.Store and are written before the
// master is asked to act on them and before status updates are
// acknowledged, so a restarted framework adopts every task it started and
// kills none.
package service

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Store keeps apps, deployments, instances and the framework ID.
	Store store.Store
	// Name and User of the framework; defaults "service" and "root".
	Name, User string
	// WebUIURL is advertised to the master (the REST API's address).
	WebUIURL string
	// APICredentials, if set, are the principals and secrets the REST API
	// requires (HTTP Basic, 401 otherwise); /health and /ping stay open for probes.
	APICredentials auth.Credentials
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away; default one week.
	FailoverTimeout time.Duration
	// TickInterval paces deployments, kills and the group commit of state
	// before acknowledgements; default 20 ms.
	TickInterval time.Duration
	// KillRetry is how long to wait for a kill before asking again;
	// default 10 s.
	KillRetry time.Duration
	// ReconcileInterval is how often every instance's state is asked of
	// the master, besides after each subscription; default 5 minutes.
	ReconcileInterval time.Duration
	// SpreadWait bounds how long the instances of an app without
	// constraints are held back (their offers declined) rather than share
	// a host while an agent known to have a host with fewer of them may
	// offer; default 10 s.
	SpreadWait time.Duration
	// SpreadSettle is how long an app waits for launches before the
	// agents known are taken to be all there are, so that instances that
	// must share hosts anyway do so without waiting out SpreadWait;
	// default 1 s (an allocation round at the master's default interval:
	// offers another framework declines come back sooner). Apps start
	// often and usually outnumber hosts, so this is shorter than the pets
	// framework's.
	SpreadSettle time.Duration
	// SpreadMemory is how long an agent seen offering is known; default
	// 1 minute.
	SpreadMemory time.Duration
	// BridgeNetwork is the CNI network apps with networks [{mode:
	// container/bridge}] join; default mesos-bridge, as Marathon's.
	BridgeNetwork string
	// HTTPClient probes readiness checks and posts events to the HTTP
	// callbacks of /v2/eventSubscriptions; default a 10 s-timeout client.
	HTTPClient HTTPDoer
	// Abdicate, under leader election, makes this instance step down
	// (DELETE /v2/leader); it reports whether it did. Nil without an
	// election.
	Abdicate func() bool
	// ZK is the ZooKeeper URL the instance uses, for /v2/info.
	ZK     string
	Now    func() time.Time
	Logger *slog.Logger
}

// Framework is the service framework.
type Framework struct {
	cfg   Config
	log   *slog.Logger
	sched *sdk.Scheduler
	bus   *eventBus

	mu          sync.Mutex
	apps        map[string]*appState
	instances   map[string]*Instance
	deployments map[string]*Deployment // by ID
	dirtyApps   map[string]bool
	dirtyInst   map[string]bool
	dirtyDeps   map[string]bool
	writes      map[string][]byte // other keys to write (versions)
	deleted     []string
	acks        []*mesospb.TaskStatus
	kills       []*Instance
	roles       []string // the framework's roles at the master
	wantOffers  bool     // last revive/suppress decision
	resync      bool
	wake        chan struct{}
	probes      map[string]context.CancelFunc // readiness probers by task
	// draining are agents scheduled for maintenance (from inverse offers
	// and offers' unavailability): nothing new lands there, and instances
	// there are replaced elsewhere.
	draining map[string]bool
	// seen are the agents recently offered, for spreading.
	seen sdk.SeenAgents
	// groups are the groups created through /v2/groups (deps.go).
	groups map[string]*groupSpec
	// plans are the changes in progress as they started (plans.go).
	plans map[string]*planInfo
	// callbacks post events to /v2/eventSubscriptions' URLs.
	callbacks *callbacks

	flushMu sync.Mutex
}

const (
	keyApps        = "service/apps"
	keyVersions    = "service/versions"
	keyInstances   = "service/instances"
	keyDeployments = "service/deployments"
	keyFrameworkID = "service/framework-id"
	maxVersions    = 50
)

// New loads the framework's state from cfg.Store.
func New(ctx context.Context, cfg Config) (*Framework, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: config: Store is required")
	}
	if cfg.Name == "" {
		cfg.Name = "service"
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
	if cfg.KillRetry == 0 {
		cfg.KillRetry = 10 * time.Second
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 5 * time.Minute
	}
	if cfg.SpreadWait == 0 {
		cfg.SpreadWait = 10 * time.Second
	}
	if cfg.SpreadSettle == 0 {
		cfg.SpreadSettle = time.Second
	}
	if cfg.SpreadMemory == 0 {
		cfg.SpreadMemory = time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultProbeClient()
	}
	if cfg.BridgeNetwork == "" {
		cfg.BridgeNetwork = DefaultBridgeNetwork
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "service"), bus: newEventBus(),
		apps: make(map[string]*appState), instances: make(map[string]*Instance), deployments: make(map[string]*Deployment),
		dirtyApps: make(map[string]bool), dirtyInst: make(map[string]bool), dirtyDeps: make(map[string]bool),
		writes: make(map[string][]byte), wake: make(chan struct{}, 1), probes: make(map[string]context.CancelFunc),
		draining: make(map[string]bool), groups: make(map[string]*groupSpec), plans: make(map[string]*planInfo),
	}
	f.callbacks = newCallbacks(cfg.HTTPClient, f.log)
	f.bus.forward = f.callbacks
	if err := f.load(ctx); err != nil {
		f.callbacks.close()
		return nil, err
	}
	f.roles = f.appRoles()
	info := &mesospb.FrameworkInfo{
		User: proto.String(cfg.User), Name: proto.String(cfg.Name), Roles: f.roles,
		FailoverTimeout: proto.Float64(cfg.FailoverTimeout.Seconds()),
		Checkpoint:      proto.Bool(true),
		Capabilities: []*mesospb.FrameworkInfo_Capability{
			{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
			{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
		},
	}
	if cfg.WebUIURL != "" {
		info.WebuiUrl = proto.String(cfg.WebUIURL)
	}
	var err error
	f.sched, err = sdk.New(sdk.Config{
		Master: cfg.Master, Detector: cfg.Detector, Framework: info, Logger: cfg.Logger,
		Principal: cfg.Principal, Secret: cfg.Secret, TLS: cfg.TLS,
		IDStore:        sdk.StoreIDStore{Store: cfg.Store, Key: keyFrameworkID},
		DisableAutoAck: true, // acknowledged once what an update says is durable
	}, sdk.HandlerFunc(f.handle))
	if err != nil {
		f.callbacks.close()
		return nil, err
	}
	return f, nil
}

// load reads apps, deployments and instances back.
func (f *Framework) load(ctx context.Context) error {
	apps, err := f.cfg.Store.List(ctx, keyApps)
	if err != nil {
		return fmt.Errorf("service: loading apps: %w", err)
	}
	for _, e := range apps {
		as := &appState{}
		if err := json.Unmarshal(e.Value, as); err != nil {
			return fmt.Errorf("service: app %s: %w", e.Key, err)
		}
		f.apps[as.Spec.ID] = as
	}
	deps, err := f.cfg.Store.List(ctx, keyDeployments)
	if err != nil {
		return fmt.Errorf("service: loading deployments: %w", err)
	}
	for _, e := range deps {
		d := &Deployment{}
		if err := json.Unmarshal(e.Value, d); err != nil {
			return fmt.Errorf("service: deployment %s: %w", e.Key, err)
		}
		f.deployments[d.ID] = d
	}
	insts, err := f.cfg.Store.List(ctx, keyInstances)
	if err != nil {
		return fmt.Errorf("service: loading instances: %w", err)
	}
	for _, e := range insts {
		in := &Instance{}
		if err := json.Unmarshal(e.Value, in); err != nil {
			return fmt.Errorf("service: instance %s: %w", e.Key, err)
		}
		f.instances[in.ID] = in
	}
	groups, err := f.cfg.Store.List(ctx, keyGroups)
	if err != nil {
		return fmt.Errorf("service: loading groups: %w", err)
	}
	for _, e := range groups {
		g := &groupSpec{}
		if err := json.Unmarshal(e.Value, g); err != nil {
			return fmt.Errorf("service: group %s: %w", e.Key, err)
		}
		f.groups[g.ID] = g
	}
	subs, err := f.cfg.Store.List(ctx, keySubscriptions)
	if err != nil {
		return fmt.Errorf("service: loading event subscriptions: %w", err)
	}
	for _, e := range subs {
		if _, err := f.callbacks.add(string(e.Value)); err != nil {
			f.log.Warn("event subscription not restored", "callbackUrl", string(e.Value), "err", err)
		}
	}
	f.log.Info("state loaded", "apps", len(f.apps), "instances", len(f.instances), "deployments", len(f.deployments),
		"groups", len(f.groups), "event subscriptions", len(subs))
	return nil
}

// appRoles is the roles the framework needs: "*" and every app's role.
func (f *Framework) appRoles() []string {
	roles := []string{DefaultRole}
	for _, as := range f.apps {
		if !slices.Contains(roles, as.Spec.Role) {
			roles = append(roles, as.Spec.Role)
		}
	}
	slices.Sort(roles)
	return roles
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
		r := time.NewTicker(f.cfg.ReconcileInterval)
		defer r.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-f.wake:
			case <-r.C:
				// Updates can be lost with a master; asking again is cheap.
				if err := f.reconcile(ctx); err != nil {
					f.log.Debug("periodic reconciliation not sent", "err", err)
				}
			}
			f.Tick(ctx)
		}
	}()
	err := f.sched.Run(ctx)
	<-done
	f.mu.Lock()
	for id, cancel := range f.probes {
		cancel()
		delete(f.probes, id)
	}
	f.mu.Unlock()
	f.bus.close()
	f.callbacks.close()
	return err
}

// Tick drives every app toward its target, writes what changed, then
// acknowledges the updates that are now durable, sends kills and tells
// the master whether offers are wanted.
func (f *Framework) Tick(ctx context.Context) {
	f.mu.Lock()
	now := f.cfg.Now()
	for _, as := range f.apps {
		f.converge(ctx, as, now)
	}
	f.retryKills(now)
	f.finishDeployments(now)
	want := f.wantsOffers(now)
	roles := f.appRoles()
	rolesChanged := !slices.Equal(roles, f.roles)
	f.roles = roles
	sync := f.resync || want != f.wantOffers || rolesChanged || f.delaysEnded(now)
	f.resync = false
	f.wantOffers = want
	acks, kills := f.acks, f.kills
	f.acks, f.kills = nil, nil
	f.mu.Unlock()

	if err := f.flush(ctx); err != nil {
		f.log.Error("could not write state; updates stay unacknowledged", "err", err)
		f.mu.Lock()
		f.acks = append(acks, f.acks...)
		f.kills = append(kills, f.kills...)
		f.resync = f.resync || sync
		f.mu.Unlock()
		return
	}
	// Calls go out in parallel: a deployment of a thousand instances
	// brings thousands of acknowledgements, and one at a time they would
	// outlast the agents' resend interval.
	parallel(acks, 8, func(st *mesospb.TaskStatus) {
		if err := f.sched.Acknowledge(ctx, st); err != nil {
			f.log.Debug("acknowledgement not sent; the agent will resend the update", "task", st.GetTaskId().GetValue(), "err", err)
		}
	})
	parallel(kills, 8, func(in *Instance) {
		if err := f.sched.Kill(ctx, in.ID, in.AgentID); err != nil {
			f.log.Debug("kill not sent; retried later", "task", in.ID, "err", err)
		}
	})
	if !sync {
		return
	}
	var err error
	if rolesChanged {
		err = f.sched.SetRoles(ctx, roles)
	}
	if err == nil {
		if want {
			err = f.sched.Revive(ctx)
		} else {
			err = f.sched.Suppress(ctx)
		}
	}
	if err != nil {
		f.mu.Lock()
		f.resync = true // try again next tick
		f.mu.Unlock()
	}
}

// delaysEnded reports whether an app's launch delay has just run out:
// offers declined during the delay are filtered at the master, so the
// framework revives to have them again at once.
func (f *Framework) delaysEnded(now time.Time) bool {
	ended := false
	for _, as := range f.apps {
		if as.wanted > 0 && !as.DelayUntil.IsZero() && !now.Before(as.DelayUntil) && !as.revivedFor.Equal(as.DelayUntil) {
			as.revivedFor = as.DelayUntil
			ended = true
		}
	}
	return ended
}

// parallel calls fn for every item, workers at a time, and waits.
func parallel[T any](items []T, workers int, fn func(T)) {
	if len(items) <= 1 {
		for _, it := range items {
			fn(it)
		}
		return
	}
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

// poke asks the loop for a tick soon.
func (f *Framework) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// flush writes what changed and deletes what was removed.
func (f *Framework) flush(ctx context.Context) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	writes := make(map[string][]byte, len(f.dirtyApps)+len(f.dirtyInst)+len(f.writes))
	for k, v := range f.writes {
		writes[k] = v
	}
	for id := range f.dirtyApps {
		if as := f.apps[id]; as != nil {
			writes[keyApps+"/"+storeKey(id)], _ = json.Marshal(as)
		}
	}
	for id := range f.dirtyInst {
		if in := f.instances[id]; in != nil {
			writes[keyInstances+"/"+id], _ = json.Marshal(in)
		}
	}
	for id := range f.dirtyDeps {
		if d := f.deployments[id]; d != nil {
			writes[keyDeployments+"/"+id], _ = json.Marshal(d)
		}
	}
	deleted := f.deleted
	dirtyApps, dirtyInst, dirtyDeps, extra := f.dirtyApps, f.dirtyInst, f.dirtyDeps, f.writes
	f.dirtyApps, f.dirtyInst, f.dirtyDeps = make(map[string]bool), make(map[string]bool), make(map[string]bool)
	f.writes, f.deleted = make(map[string][]byte), nil
	f.mu.Unlock()

	err := f.write(ctx, writes, deleted)
	if err != nil {
		// Everything stays dirty: nothing is lost, only delayed.
		f.mu.Lock()
		for id := range dirtyApps {
			f.dirtyApps[id] = true
		}
		for id := range dirtyInst {
			f.dirtyInst[id] = true
		}
		for id := range dirtyDeps {
			f.dirtyDeps[id] = true
		}
		for k, v := range extra {
			if _, ok := f.writes[k]; !ok {
				f.writes[k] = v
			}
		}
		f.deleted = append(deleted, f.deleted...)
		f.mu.Unlock()
	}
	return err
}

// write applies writes then deletes: as one batch when the store can, else
// in parallel (a 1,000-instance app writes 1,000 keys at once, and
// ZooKeeper round trips dominate).
func (f *Framework) write(ctx context.Context, writes map[string][]byte, deleted []string) error {
	if len(writes) == 0 && len(deleted) == 0 {
		return nil
	}
	if b, ok := f.cfg.Store.(store.Batcher); ok {
		ops := make([]store.Op, 0, len(writes)+len(deleted))
		for k, v := range writes {
			ops = append(ops, store.Op{Key: k, Value: v})
		}
		for _, k := range deleted {
			ops = append(ops, store.Op{Key: k, Delete: true})
		}
		if err := b.Apply(ctx, ops); err != nil {
			return fmt.Errorf("service: writing %d changes: %w", len(ops), err)
		}
		return nil
	}
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	parallel(slices.Collect(maps.Keys(writes)), 16, func(k string) {
		if _, err := f.cfg.Store.Put(ctx, k, writes[k], store.AnyVersion); err != nil {
			fail(fmt.Errorf("service: writing %s: %w", k, err))
		}
	})
	if first != nil {
		return first
	}
	parallel(deleted, 16, func(k string) {
		if err := f.cfg.Store.Delete(ctx, k, store.AnyVersion); err != nil && !errors.Is(err, store.ErrNotFound) {
			fail(fmt.Errorf("service: deleting %s: %w", k, err))
		}
	})
	return first
}
