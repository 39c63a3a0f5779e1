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
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

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
	// inFlight are the instances whose ACCEPT has not returned: never
	// reconciled until it has.
	inFlight kit.InFlight
	// recon asks again, backing off, about instances a reconciliation had
	// no answer for, and about launches whose ACCEPT failed.
	recon *sdk.Reconciler

	mu          sync.Mutex
	apps        map[string]*appState
	instances   map[string]*Instance
	deployments map[string]*Deployment // by ID
	outbox      kit.Outbox[*Instance]
	roles       []string // the framework's roles at the master
	wantOffers  bool     // last revive/suppress decision
	resync      bool
	probes      *kit.Probes
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

	// durable commits apps, instances, deployments and the other keys
	// (versions, groups, event subscriptions) to the store; loop ticks.
	durable           *kit.Durable
	appRecords        *kit.Table
	instanceRecords   *kit.Table
	deploymentRecords *kit.Table
	loop              *kit.Loop
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
	settings := kit.Settings{Master: cfg.Master, Detector: cfg.Detector, Principal: cfg.Principal, Secret: cfg.Secret, TLS: cfg.TLS,
		Store: cfg.Store, Name: &cfg.Name, User: &cfg.User, FailoverTimeout: &cfg.FailoverTimeout,
		TickInterval: &cfg.TickInterval, Now: &cfg.Now, Logger: &cfg.Logger}
	if err := settings.Fill("service"); err != nil {
		return nil, err
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
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "service"), bus: newEventBus(),
		apps: make(map[string]*appState), instances: make(map[string]*Instance), deployments: make(map[string]*Deployment),
		draining: make(map[string]bool), groups: make(map[string]*groupSpec), plans: make(map[string]*planInfo),
		recon: sdk.NewReconciler(0, 0),
	}
	f.durable = kit.NewDurable(cfg.Store, &f.mu, kit.DurableOptions{Name: "service", Parallel: 16})
	f.appRecords = f.durable.Table(keyApps, kit.JSONIn(f.apps)).Named(storeKey)
	f.instanceRecords = f.durable.Table(keyInstances, kit.JSONIn(f.instances))
	f.deploymentRecords = f.durable.Table(keyDeployments, kit.JSONIn(f.deployments))
	f.loop = kit.NewLoop(cfg.TickInterval, f.Tick, &kit.Periodic{
		Every: cfg.ReconcileInterval,
		Do: func(ctx context.Context) {
			// Updates can be lost with a master; asking again is cheap.
			if err := f.reconcile(ctx); err != nil {
				f.log.Debug("periodic reconciliation not sent", "err", err)
			}
		},
	})
	f.probes = kit.NewProbes(&f.mu, f.loop.Poke)
	f.callbacks = newCallbacks(cfg.HTTPClient, f.log)
	f.bus.forward = f.callbacks
	if err := f.load(ctx); err != nil {
		f.callbacks.close()
		return nil, err
	}
	f.roles = f.appRoles()
	info := kit.FrameworkInfo(cfg.User, cfg.Name, f.roles, cfg.FailoverTimeout,
		mesospb.FrameworkInfo_Capability_MULTI_ROLE, mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
	info.Checkpoint = proto.Bool(true)
	if cfg.WebUIURL != "" {
		info.WebuiUrl = proto.String(cfg.WebUIURL)
	}
	var err error
	f.sched, err = settings.NewScheduler(info, keyFrameworkID, sdk.HandlerFunc(f.handle))
	if err != nil {
		f.callbacks.close()
		return nil, err
	}
	return f, nil
}

// load reads apps, deployments, instances, groups and event
// subscriptions back.
func (f *Framework) load(ctx context.Context) error {
	st := f.cfg.Store
	err := kit.LoadJSON(ctx, st, keyApps, func(as *appState) { f.apps[as.Spec.ID] = as })
	if err == nil {
		err = kit.LoadJSON(ctx, st, keyDeployments, func(d *Deployment) { f.deployments[d.ID] = d })
	}
	if err == nil {
		err = kit.LoadJSON(ctx, st, keyInstances, func(in *Instance) { f.instances[in.ID] = in })
	}
	if err == nil {
		err = kit.LoadJSON(ctx, st, keyGroups, func(g *groupSpec) { f.groups[g.ID] = g })
	}
	subs := 0
	if err == nil {
		err = kit.Load(ctx, st, keySubscriptions, func(e store.Entry) error {
			subs++
			if _, err := f.callbacks.add(string(e.Value)); err != nil {
				f.log.Warn("event subscription not restored", "callbackUrl", string(e.Value), "err", err)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	f.log.Info("state loaded", "apps", len(f.apps), "instances", len(f.instances), "deployments", len(f.deployments),
		"groups", len(f.groups), "event subscriptions", subs)
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
	err := f.loop.Run(ctx, f.sched.Run)
	f.mu.Lock()
	f.probes.StopAll()
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
	taken := f.outbox.Take()
	f.mu.Unlock()

	if !kit.FlushBeforeSending(ctx, f.durable, &f.outbox, taken, f.log, func() { f.resync = f.resync || sync }) {
		return
	}
	// Calls go out in parallel: a deployment of a thousand instances
	// brings thousands of acknowledgements, and one at a time they would
	// outlast the agents' resend interval.
	kit.Acknowledge(ctx, f.sched, f.log, taken.Acks, 8)
	kit.Parallel(taken.Kills, 8, func(in *Instance) {
		if err := f.sched.Kill(ctx, in.ID, in.AgentID); err != nil {
			f.log.Debug("kill not sent; retried later", "task", in.ID, "err", err)
		}
	})
	if err := f.recon.Tick(ctx, f.sched, now); err != nil {
		f.log.Debug("reconciliation not sent; asked again later", "err", err)
	}
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

// delaysEnded reports whether an app's launch delay, or a hold of its
// spread, has just run out: offers declined meanwhile are filtered at
// the master, so the framework revives to have them again at once
// rather than a filter and an allocation round later.
func (f *Framework) delaysEnded(now time.Time) bool {
	ended := false
	for _, as := range f.apps {
		if as.wanted > 0 && !as.DelayUntil.IsZero() && !now.Before(as.DelayUntil) && !as.revivedFor.Equal(as.DelayUntil) {
			as.revivedFor = as.DelayUntil
			ended = true
		}
		if f.spreadHoldEnded(as, now) {
			ended = true
		}
	}
	return ended
}

// spreadHoldEnded reports, once for each, whether an app whose spread
// held instances back has just settled (the agents it knows are taken to
// be all there are) or waited SpreadWait: from then on the offers it
// declined can take those instances. The first round of a new app on
// three agents places three instances, holds the rest until it settles,
// and without this waited out a decline filter and the master's next
// round besides.
func (f *Framework) spreadHoldEnded(as *appState, now time.Time) bool {
	if as.wanted == 0 || as.spreadHeld.IsZero() {
		return false
	}
	settle := f.cfg.SpreadSettle
	ends := []time.Time{as.Since.Add(settle), as.spreadHeld.Add(f.cfg.SpreadWait)}
	if w := f.seen.Watching(as.Spec.Role, now.Add(-f.cfg.SpreadMemory)); !w.IsZero() && w.Add(settle).Before(ends[0]) {
		ends[0] = w.Add(settle)
	}
	for _, end := range ends {
		// An end already past when the hold began (the framework had long
		// known every agent) frees nothing: the hold is for agents
		// elsewhere, whose offers come without a revive.
		if !now.Before(end) && end.After(as.spreadHeld) && as.spreadRevivedFor.Before(end) {
			as.spreadRevivedFor = end
			return true
		}
	}
	return false
}
