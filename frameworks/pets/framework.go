package pets

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
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
	// Store keeps sets, pets, releases and the framework ID.
	Store store.Store
	// Name, User and Principal of the framework; defaults "pets", "root"
	// and Name. The principal signs the pets' reservations; with Secret it
	// also authenticates the framework to the master.
	Name, User, Principal, Secret string
	// TLS, if set, verifies the master, which is then called over https.
	TLS *tls.Config
	// APICredentials, if set, are the principals and secrets the REST API
	// requires (HTTP Basic, 401 otherwise); /health stays open for probes.
	APICredentials auth.Credentials
	// FailoverTimeout is how long the master keeps the framework's tasks
	// while it is away; default one week.
	FailoverTimeout time.Duration
	// TickInterval paces planning and the group commit of state before
	// acknowledgements; default 20 ms.
	TickInterval time.Duration
	// ReconcileInterval is how often tasks in doubt (unreachable or
	// unknown) are reconciled explicitly; default 15 s.
	ReconcileInterval time.Duration
	// ReplaceAvoid is how long a replaced pet keeps off the agent it left
	// when others could take it; default 30 s.
	ReplaceAvoid time.Duration
	// SpreadWait bounds how long a pet under a preferred spread is held
	// back (its offers declined) rather than share a host with a pet of
	// its set while an agent known to have a host with fewer may offer;
	// default 10 s.
	SpreadWait time.Duration
	// SpreadSettle is how long a pet waits to be placed before the agents
	// known are taken to be all there are, so that a pet that must share
	// a host anyway does so without waiting out SpreadWait; default 2 s
	// (two allocation rounds at the master's default interval: a
	// framework that just revived gets its offers over a round or two).
	SpreadSettle time.Duration
	// SpreadMemory is how long an agent seen offering is known; default
	// 1 minute.
	SpreadMemory time.Duration
	// MaxBackoff bounds the delay before relaunching a pet that keeps
	// failing; default 30 s (the first relaunch waits 500 ms).
	MaxBackoff time.Duration
	// HTTPClient makes readiness probes.
	HTTPClient *http.Client
	// DNSDomain, if set, is the domain `corral dns` serves: pets then
	// find their peers by stable name (<pet>.<set>.<framework>.<domain>,
	// e.g. db-0.db.pets.corral) in CORRAL_PETSET_PEERS, a name that
	// follows a pet when it moves, instead of by agent hostname.
	DNSDomain string
	// Now is the clock; tests replace it.
	Now    func() time.Time
	Logger *slog.Logger
	// OnUpdate, if set, sees every status update as it arrives.
	OnUpdate func(*mesospb.TaskStatus)
}

// Framework is the pets framework.
type Framework struct {
	cfg   Config
	log   *slog.Logger
	sched *sdk.Scheduler
	// inFlight are the tasks whose ACCEPT has not returned: never
	// reconciled until it has.
	inFlight kit.InFlight
	// recon asks again, backing off, about tasks a reconciliation had no
	// answer for, and about launches whose ACCEPT failed.
	recon *sdk.Reconciler

	mu            sync.Mutex
	sets          map[string]*setState
	pets          map[string]*Pet       // by name
	releases      map[string]*Release   // by placement ID
	byTask        map[string]string     // live task ID → pet name
	waiting       map[string]string     // pet name → why it is not launched (not stored)
	spreading     map[string]*spreading // pet name → its placement so far, while it waits for one
	seen          sdk.SeenAgents        // agents recently offered, for spreading
	outbox        kit.Outbox[taskRef]
	probes        *kit.Probes
	roles         []string        // the roles subscribed with
	wished        map[string]bool // what wanted offers at the last tick
	suppressed    map[string]bool
	resync        bool
	lastReconcile time.Time
	ctx           context.Context // Run's, for probes

	// durable commits sets, pets and releases to the store; loop ticks.
	durable        *kit.Durable
	setRecords     *kit.Table
	petRecords     *kit.Table
	releaseRecords *kit.Table
	loop           *kit.Loop
}

// setState is a set's desired state.
type setState struct {
	Spec     PetSet `json:"spec"`
	Revision int    `json:"revision"`
	// History holds older revisions some pet still runs.
	History  map[int]*PetSet `json:"history,omitempty"`
	Deleting bool            `json:"deleting,omitempty"`
	Purge    bool            `json:"purge,omitempty"`
	Created  time.Time       `json:"created"`
	Updated  time.Time       `json:"updated"`
}

// specAt returns the spec of a revision (the current one when unknown).
func (s *setState) specAt(rev int) *PetSet {
	if sp := s.History[rev]; sp != nil && rev != s.Revision {
		return sp
	}
	return &s.Spec
}

type taskRef struct{ taskID, agentID string }

const (
	keySets        = "pets/sets"
	keyPets        = "pets/pets"
	keyReleases    = "pets/releases"
	keyFrameworkID = "pets/framework-id"
)

// New loads the framework's state from cfg.Store.
func New(ctx context.Context, cfg Config) (*Framework, error) {
	settings := kit.Settings{Master: cfg.Master, Detector: cfg.Detector, Principal: cfg.Principal, Secret: cfg.Secret, TLS: cfg.TLS,
		Store: cfg.Store, Name: &cfg.Name, User: &cfg.User, FailoverTimeout: &cfg.FailoverTimeout,
		TickInterval: &cfg.TickInterval, Now: &cfg.Now, Logger: &cfg.Logger}
	if err := settings.Fill("pets"); err != nil {
		return nil, err
	}
	// The principal given, even empty, is what the framework authenticates
	// with (settings has it); the one that signs reservations defaults to
	// the name.
	if cfg.Principal == "" {
		cfg.Principal = cfg.Name
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 15 * time.Second
	}
	if cfg.ReplaceAvoid == 0 {
		cfg.ReplaceAvoid = 30 * time.Second
	}
	if cfg.SpreadWait == 0 {
		cfg.SpreadWait = 10 * time.Second
	}
	if cfg.SpreadSettle == 0 {
		cfg.SpreadSettle = 2 * time.Second
	}
	if cfg.SpreadMemory == 0 {
		cfg.SpreadMemory = time.Minute
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "pets"),
		sets: make(map[string]*setState), pets: make(map[string]*Pet), releases: make(map[string]*Release),
		byTask: make(map[string]string), waiting: make(map[string]string), spreading: make(map[string]*spreading),
		recon:  sdk.NewReconciler(0, 0),
		wished: make(map[string]bool), suppressed: make(map[string]bool),
		ctx: context.Background(),
	}
	f.durable = kit.NewDurable(cfg.Store, &f.mu, kit.DurableOptions{Name: "pets"})
	f.loop = kit.NewLoop(cfg.TickInterval, f.Tick, nil)
	f.probes = kit.NewProbes(&f.mu, f.loop.Poke)
	f.setRecords = f.durable.Table(keySets, kit.JSONIn(f.sets))
	f.petRecords = f.durable.Table(keyPets, kit.JSONIn(f.pets))
	f.releaseRecords = f.durable.Table(keyReleases, kit.JSONIn(f.releases))
	if err := f.load(ctx); err != nil {
		return nil, err
	}
	f.roles = f.wantedRoles()
	info := kit.FrameworkInfo(cfg.User, cfg.Name, f.roles, cfg.FailoverTimeout,
		mesospb.FrameworkInfo_Capability_MULTI_ROLE,
		// TASK_UNREACHABLE and TASK_GONE_BY_OPERATOR tell "may still
		// run" from "ended for good", which at-most-one depends on.
		mesospb.FrameworkInfo_Capability_PARTITION_AWARE,
		mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	info.Principal = proto.String(cfg.Principal)
	var err error
	f.sched, err = settings.NewScheduler(info, keyFrameworkID, sdk.HandlerFunc(f.handle))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// load reads sets, pets and releases back.
func (f *Framework) load(ctx context.Context) error {
	err := kit.LoadJSON(ctx, f.cfg.Store, keySets, func(s *setState) { f.sets[s.Spec.ID] = s })
	if err == nil {
		err = kit.LoadJSON(ctx, f.cfg.Store, keyPets, func(p *Pet) {
			f.pets[p.Name] = p
			if p.TaskID != "" {
				f.byTask[p.TaskID] = p.Name
			}
		})
	}
	if err == nil {
		err = kit.LoadJSON(ctx, f.cfg.Store, keyReleases, func(r *Release) { f.releases[r.ID] = r })
	}
	if err != nil {
		return fmt.Errorf("pets: %w", err)
	}
	f.log.Info("state loaded", "sets", len(f.sets), "pets", len(f.pets), "live tasks", len(f.byTask), "releases", len(f.releases))
	return nil
}

// wantedRoles is every role a set or a release needs offers for.
func (f *Framework) wantedRoles() []string {
	roles := []string{DefaultRole}
	add := func(r string) {
		if r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	for _, s := range f.sets {
		add(s.Spec.Role)
	}
	for _, r := range f.releases {
		add(r.Role)
	}
	for _, p := range f.pets {
		if p.Placement != nil {
			add(p.Placement.Role)
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
	f.mu.Lock()
	f.ctx = ctx
	f.mu.Unlock()
	err := f.loop.Run(ctx, f.sched.Run)
	f.mu.Lock()
	f.probes.StopAll()
	f.mu.Unlock()
	return err
}

// petsOf returns a set's pets indexed by ordinal (nil where none).
func (f *Framework) petsOf(id string) []*Pet {
	var out []*Pet
	for _, p := range f.pets {
		if p.Set != id {
			continue
		}
		for len(out) <= p.Ordinal {
			out = append(out, nil)
		}
		out[p.Ordinal] = p
	}
	return out
}

// pet returns pet k of a set, creating its record.
func (f *Framework) pet(set string, k int) *Pet {
	name := petName(set, k)
	p := f.pets[name]
	if p == nil {
		p = &Pet{Set: set, Ordinal: k, Name: name}
		f.pets[name] = p
		f.petRecords.Mark(name)
	}
	return p
}

func (f *Framework) markPet(p *Pet) { f.petRecords.Mark(p.Name) }
