// Package ha runs a master that takes part in ZooKeeper leader election.
// While another master leads, it is a standby: scheduler and agent calls
// are redirected to the leader with 307 and `Location: //host:port/path`,
// or answered 503 while no leader is known. Each time it is elected it
// runs a fresh master until leadership is lost; agents and frameworks then
// re-register with the next leader, bringing their tasks and framework
// IDs, so no task is killed because the master failed over.
//
// Each term's master first takes the registry's fence (master.FenceKey),
// so a leader that lost its session without noticing (paused past the
// session timeout) cannot overwrite its successor's registry: its first
// write fails with store.ErrFenced, which ends its term at once. And it
// answers nothing as leader while its election.Lease has run out, so that
// a leader that resumes after a pause never answers once a successor
// may have been elected.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/store"
)

// Server is a master under leader election.
type Server struct {
	cfg      master.Config
	session  *election.Session
	path     string
	detector *election.Detector
	log      *slog.Logger

	current atomic.Pointer[http.Handler]   // the leader's handler, or nil
	lease   atomic.Pointer[election.Lease] // the current term's
	leading atomic.Bool
	terms   atomic.Int64
}

// New prepares a Server; cfg is the template of every term's master (its
// ID is fixed here so that all terms share it).
func New(cfg master.Config, session *election.Session, path string) *Server {
	if cfg.ID == "" {
		cfg.ID = uuid.New().String()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, session: session, path: path, detector: election.NewDetector(session, path),
		log: cfg.Logger.With("component", "ha", "id", cfg.ID)}
}

// Leading reports whether this master leads now.
func (s *Server) Leading() bool { return s.leading.Load() }

// Terms counts how many times this master has been elected.
func (s *Server) Terms() int64 { return s.terms.Load() }

// Run contends for leadership until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	probeCfg := s.cfg
	probeCfg.Registerer = nil
	probe, err := master.New(probeCfg) // validates the config and gives the MasterInfo
	if err != nil {
		return err
	}
	info := probe.Info()
	return election.Contend(ctx, s.session, s.path, info, s.lead)
}

// lead runs one term.
func (s *Server) lead(ctx context.Context) {
	cfg := s.cfg
	cfg.Registerer = nil // a fresh registry per term; /metrics follows the leader
	cfg.LeaderKey = s.leaderKey(ctx)
	m, err := master.New(cfg)
	if err != nil {
		s.log.Error("cannot start the master for this term", "err", err)
		return
	}
	h := m.Handler()
	s.lease.Store(election.LeaseOf(ctx))
	s.current.Store(&h)
	s.leading.Store(true)
	s.terms.Add(1)
	s.log.Info("leading", "term", s.terms.Load())
	err = m.Run(ctx)
	s.leading.Store(false)
	s.current.Store(nil)
	switch {
	case errors.Is(err, store.ErrFenced):
		// A newer leader took the registry while this one still thought
		// it led (its session expired unnoticed, say). Returning ends the
		// term and gives up our znode; contending again queues behind the
		// newer leader.
		s.log.Error("no longer leading: another master took over the registry", "err", err)
	case err != nil:
		s.log.Error("no longer leading: the master stopped", "err", err)
	default:
		s.log.Warn("no longer leading")
	}
}

// leaderKey is this term's election znode as a key of the registry's
// store, when the store holds the election (the registry lives under the
// election path, as corral's masters run): the master then makes every
// registry write depend on it, so none lands once the term has ended.
// "" when the store cannot see it.
func (s *Server) leaderKey(ctx context.Context) string {
	znode := election.ZnodeOf(ctx)
	key, ok := strings.CutPrefix(znode, strings.TrimSuffix(s.path, "/")+"/")
	if !ok || s.cfg.Store == nil {
		return ""
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.Get(gctx, key); err != nil {
		return ""
	}
	return key
}

// Handler serves the leader's endpoints while leading and redirects
// otherwise.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.current.Load(); h != nil {
			// A leader that has not heard from ZooKeeper for long enough
			// that a successor may be elected (paused, say) answers
			// nothing as leader until it has, or until it knows it lost.
			if !s.lease.Load().Valid() {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "This master's leadership is unconfirmed (ZooKeeper has not answered it lately); retry shortly", http.StatusServiceUnavailable)
				return
			}
			(*h).ServeHTTP(w, r)
			return
		}
		s.standby(w, r)
	})
}

func (s *Server) standby(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"healthy\":true,\"leader\":false,\"id\":%q}\n", s.cfg.ID)
		return
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP corral_master_elected 1 if this master is the leader.\n# TYPE corral_master_elected gauge\ncorral_master_elected 0\n")
		return
	}
	leader, _, err := s.detector.Current()
	if err != nil || leader == nil || leader.GetId() == s.cfg.ID {
		http.Error(w, "No leading master is elected right now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", "//"+election.Address(leader)+r.URL.Path)
	http.Error(w, "This master is not the leader; the leader is "+election.Address(leader), http.StatusTemporaryRedirect)
}
