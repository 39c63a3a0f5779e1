package leader

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Term is what one leadership term runs.
type Term struct {
	// Handler serves the leader's API during the term.
	Handler http.Handler
	// Run runs until ctx ends (leadership lost, abdication or shutdown)
	// or it fails; either way the term ends with it.
	Run func(ctx context.Context) error
}

// Config says what to contend for and what to run.
type Config struct {
	// Session and Path are the ZooKeeper session and election path.
	Session *election.Session
	Path    string
	// ID names this contender in its znode and in standbys' answers; a
	// fresh UUID if empty.
	ID string
	// Info, if set, gives the MasterInfo the contender's znode holds (a
	// master's, with its version and pid). Otherwise the znode holds a
	// MasterInfo naming Addr (host:port), where clients are redirected.
	// Either way its id is ID.
	Info func() (*mesospb.MasterInfo, error)
	Addr string
	// Start builds a fresh Term each time this contender is elected; ctx
	// is the term's, ending with it. A failed Start gives the leadership
	// up (another contender may do better) and contends again.
	Start func(ctx context.Context) (Term, error)
	// Redirect is how standbys send clients to the leader.
	Redirect Redirect
	// Noun names one contender in standbys' answers: "master", "instance".
	Noun string
	// Local maps the paths a standby answers itself, besides /health (a
	// master's /metrics, say), to their handlers.
	Local map[string]http.Handler
	Log   *slog.Logger
}

// Runner is one contender: it leads one term at a time and stands by
// between terms.
type Runner struct {
	cfg      Config
	detector *election.Detector
	log      *slog.Logger

	current atomic.Pointer[http.Handler]   // the term's handler; nil between terms
	lease   atomic.Pointer[election.Lease] // the current term's
	terms   atomic.Int64
	// stepDown ends the current term (Abdicate); nil between terms.
	stepDown atomic.Pointer[context.CancelFunc]
}

// New prepares a Runner; nothing happens until Run.
func New(cfg Config) *Runner {
	if cfg.ID == "" {
		cfg.ID = uuid.New().String()
	}
	if cfg.Noun == "" {
		cfg.Noun = "instance"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Runner{cfg: cfg, detector: election.NewDetector(cfg.Session, cfg.Path),
		log: cfg.Log.With("component", "leader", "id", cfg.ID)}
}

// ID is this contender's, as its znode names it.
func (r *Runner) ID() string { return r.cfg.ID }

// Leading reports whether a term runs now.
func (r *Runner) Leading() bool { return r.current.Load() != nil }

// Terms counts how many terms have started.
func (r *Runner) Terms() int64 { return r.terms.Load() }

// Run contends for leadership until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	info, err := r.info()
	if err != nil {
		return err
	}
	return election.Contend(ctx, r.cfg.Session, r.cfg.Path, info, r.lead)
}

func (r *Runner) info() (*mesospb.MasterInfo, error) {
	if r.cfg.Info == nil {
		return AddrInfo(r.cfg.ID, r.cfg.Addr)
	}
	info, err := r.cfg.Info()
	if err != nil {
		return nil, err
	}
	if info.GetId() != r.cfg.ID {
		// Standbys would not recognise their own znode as the leader's.
		info = proto.CloneOf(info)
		info.Id = proto.String(r.cfg.ID)
	}
	return info, nil
}

// Abdicate ends the current term if there is one: its Run stops, its
// znode goes, and the contender queues behind the others, so that one of
// them leads next (Marathon's DELETE /v2/leader). It reports whether
// there was a term to end.
func (r *Runner) Abdicate() bool {
	stop := r.stepDown.Load()
	if stop == nil {
		return false
	}
	r.log.Warn("abdicating leadership on request")
	(*stop)()
	return true
}

// lead runs one term; returning gives the leadership up.
func (r *Runner) lead(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.stepDown.Store(&cancel)
	defer r.stepDown.Store(nil)
	term, err := r.cfg.Start(ctx)
	if err != nil {
		r.log.Error("cannot start this term", "err", err)
		return
	}
	// The lease before the handler: the handler checks the lease of the
	// term it serves.
	r.lease.Store(election.LeaseOf(ctx))
	r.current.Store(&term.Handler)
	r.terms.Add(1)
	r.log.Info("leading", "term", r.terms.Load())
	err = term.Run(ctx)
	r.current.Store(nil)
	if err != nil && ctx.Err() == nil {
		// It stopped by itself: a master fenced off its registry by a
		// newer leader, say. Returning gives the znode up; contending
		// again queues behind whoever leads now.
		r.log.Error("no longer leading: the term stopped", "err", err)
		return
	}
	r.log.Warn("no longer leading")
}

// AddrInfo is the MasterInfo a contender that is not a master publishes:
// its ID and the host:port clients reach it at.
func AddrInfo(id, addr string) (*mesospb.MasterInfo, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("leader: address %q: %w", addr, err)
	}
	return &mesospb.MasterInfo{
		Id: proto.String(id), Ip: proto.Uint32(0), Port: proto.Uint32(uint32(port)), Hostname: proto.String(host),
		Address: &mesospb.Address{Hostname: proto.String(host), Port: proto.Int32(int32(port))},
	}, nil
}
