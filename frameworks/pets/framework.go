package pets

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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

	mu            sync.Mutex
	sets          map[string]*setState
	pets          map[string]*Pet       // by name
	releases      map[string]*Release   // by placement ID
	byTask        map[string]string     // live task ID → pet name
	waiting       map[string]string     // pet name → why it is not launched (not stored)
	spreading     map[string]*spreading // pet name → its placement so far, while it waits for one
	seen          sdk.SeenAgents        // agents recently offered, for spreading
	dirtySets     map[string]bool
	dirtyPets     map[string]bool
	dirtyReleases map[string]bool
	deleted       []string // store keys to delete at the next flush
	acks          []*mesospb.TaskStatus
	kills         []taskRef
	probes        map[string]context.CancelFunc // readiness probes by task ID
	roles         []string                      // the roles subscribed with
	wished        map[string]bool               // what wanted offers at the last tick
	suppressed    map[string]bool
	resync        bool
	lastReconcile time.Time
	ctx           context.Context // Run's, for probes
	wake          chan struct{}

	flushMu sync.Mutex // one writer to the store at a time
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
	if cfg.Store == nil {
		return nil, errors.New("pets: config: Store is required")
	}
	if cfg.Name == "" {
		cfg.Name = "pets"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	authPrincipal := cfg.Principal
	if cfg.Principal == "" {
		cfg.Principal = cfg.Name
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 7 * 24 * time.Hour
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 20 * time.Millisecond
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Framework{
		cfg: cfg, log: cfg.Logger.With("component", "pets"),
		sets: make(map[string]*setState), pets: make(map[string]*Pet), releases: make(map[string]*Release),
		byTask: make(map[string]string), waiting: make(map[string]string), spreading: make(map[string]*spreading),
		dirtySets: make(map[string]bool), dirtyPets: make(map[string]bool), dirtyReleases: make(map[string]bool),
		probes: make(map[string]context.CancelFunc), wished: make(map[string]bool), suppressed: make(map[string]bool),
		wake: make(chan struct{}, 1), ctx: context.Background(),
	}
	if err := f.load(ctx); err != nil {
		return nil, err
	}
	f.roles = f.wantedRoles()
	info := &mesospb.FrameworkInfo{
		User: proto.String(cfg.User), Name: proto.String(cfg.Name), Roles: f.roles,
		Principal:       proto.String(cfg.Principal),
		FailoverTimeout: proto.Float64(cfg.FailoverTimeout.Seconds()),
		Capabilities: []*mesospb.FrameworkInfo_Capability{
			{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
			// TASK_UNREACHABLE and TASK_GONE_BY_OPERATOR tell "may still
			// run" from "ended for good", which at-most-one depends on.
			{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
			{Type: mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT.Enum()},
		},
	}
	var err error
	f.sched, err = sdk.New(sdk.Config{
		Master: cfg.Master, Detector: cfg.Detector, Framework: info, Logger: cfg.Logger,
		Principal: authPrincipal, Secret: cfg.Secret, TLS: cfg.TLS,
		IDStore:        sdk.StoreIDStore{Store: cfg.Store, Key: keyFrameworkID},
		DisableAutoAck: true, // acknowledged once what an update says is durable
	}, sdk.HandlerFunc(f.handle))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// load reads sets, pets and releases back.
func (f *Framework) load(ctx context.Context) error {
	load := func(prefix string, each func([]byte) error) error {
		entries, err := f.cfg.Store.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("pets: loading %s: %w", prefix, err)
		}
		for _, e := range entries {
			if err := each(e.Value); err != nil {
				return fmt.Errorf("pets: %s: %w", e.Key, err)
			}
		}
		return nil
	}
	err := load(keySets, func(b []byte) error {
		s := &setState{}
		if err := json.Unmarshal(b, s); err != nil {
			return err
		}
		f.sets[s.Spec.ID] = s
		return nil
	})
	if err == nil {
		err = load(keyPets, func(b []byte) error {
			p := &Pet{}
			if err := json.Unmarshal(b, p); err != nil {
				return err
			}
			f.pets[p.Name] = p
			if p.TaskID != "" {
				f.byTask[p.TaskID] = p.Name
			}
			return nil
		})
	}
	if err == nil {
		err = load(keyReleases, func(b []byte) error {
			r := &Release{}
			if err := json.Unmarshal(b, r); err != nil {
				return err
			}
			f.releases[r.ID] = r
			return nil
		})
	}
	if err != nil {
		return err
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
	f.mu.Lock()
	for id, cancel := range f.probes {
		cancel()
		delete(f.probes, id)
	}
	f.mu.Unlock()
	return err
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
	var ops []store.Op
	var encErr error
	put := func(key string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			encErr = err
			return
		}
		ops = append(ops, store.Op{Key: key, Value: b})
	}
	for id := range f.dirtySets {
		if s := f.sets[id]; s != nil {
			put(keySets+"/"+id, s)
		}
	}
	for name := range f.dirtyPets {
		if p := f.pets[name]; p != nil {
			put(keyPets+"/"+name, p)
		}
	}
	for id := range f.dirtyReleases {
		if r := f.releases[id]; r != nil {
			put(keyReleases+"/"+id, r)
		}
	}
	for _, key := range f.deleted {
		ops = append(ops, store.Op{Key: key, Delete: true})
	}
	dirtySets, dirtyPets, dirtyReleases, deleted := f.dirtySets, f.dirtyPets, f.dirtyReleases, f.deleted
	f.dirtySets, f.dirtyPets, f.dirtyReleases, f.deleted = map[string]bool{}, map[string]bool{}, map[string]bool{}, nil
	f.mu.Unlock()

	err := encErr
	if err == nil && len(ops) > 0 {
		err = f.write(ctx, ops)
	}
	if err != nil {
		// Mark everything dirty again: nothing is lost, only delayed.
		f.mu.Lock()
		for k := range dirtySets {
			f.dirtySets[k] = true
		}
		for k := range dirtyPets {
			f.dirtyPets[k] = true
		}
		for k := range dirtyReleases {
			f.dirtyReleases[k] = true
		}
		f.deleted = append(deleted, f.deleted...)
		f.mu.Unlock()
	}
	return err
}

// write applies ops in one batch when the store can, else one by one.
func (f *Framework) write(ctx context.Context, ops []store.Op) error {
	if b, ok := f.cfg.Store.(store.Batcher); ok {
		if err := b.Apply(ctx, ops); err != nil {
			return fmt.Errorf("pets: writing state: %w", err)
		}
		return nil
	}
	for _, op := range ops {
		if op.Delete {
			if err := f.cfg.Store.Delete(ctx, op.Key, store.AnyVersion); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("pets: deleting %s: %w", op.Key, err)
			}
			continue
		}
		if _, err := f.cfg.Store.Put(ctx, op.Key, op.Value, store.AnyVersion); err != nil {
			return fmt.Errorf("pets: writing %s: %w", op.Key, err)
		}
	}
	return nil
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
		f.dirtyPets[name] = true
	}
	return p
}

func (f *Framework) markPet(p *Pet) { f.dirtyPets[p.Name] = true }
