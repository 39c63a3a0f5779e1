// Package ha runs a master that takes part in ZooKeeper leader election,
// as an election/leader Runner whose terms are masters. While another
// master leads, it is a standby: scheduler and agent calls are redirected
// to the leader with 307 and `Location: //host:port/path`, or answered
// 503 while no leader is known. Each time it is elected it runs a fresh
// master until leadership is lost; agents and frameworks then re-register
// with the next leader, bringing their tasks and framework IDs, so no
// task is killed because the master failed over.
//
// Each term's master first takes the registry's fence (master.FenceKey),
// so a leader that lost its session without noticing (paused past the
// session timeout) cannot overwrite its successor's registry: its first
// write fails with store.ErrFenced, which ends its term at once. And it
// answers nothing as leader while its election.Lease has run out (the
// Runner checks it), so that a leader that resumes after a pause never
// answers once a successor may have been elected.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/election/leader"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/store"
)

// Server is a master under leader election.
type Server struct {
	cfg    master.Config
	path   string
	runner *leader.Runner
	log    *slog.Logger
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
	s := &Server{cfg: cfg, path: path, log: cfg.Logger.With("component", "ha", "id", cfg.ID)}
	s.runner = leader.New(leader.Config{Session: session, Path: path, ID: cfg.ID, Info: s.info, Start: s.term,
		Redirect: leader.ToHostPath, Noun: "master", Log: cfg.Logger,
		Local: map[string]http.Handler{"/metrics": http.HandlerFunc(standbyMetrics)}})
	return s
}

// Leading reports whether this master leads now.
func (s *Server) Leading() bool { return s.runner.Leading() }

// Terms counts how many times this master has been elected.
func (s *Server) Terms() int64 { return s.runner.Terms() }

// Run contends for leadership until ctx ends.
func (s *Server) Run(ctx context.Context) error { return s.runner.Run(ctx) }

// Handler serves the leader's endpoints while leading and redirects
// otherwise.
func (s *Server) Handler() http.Handler { return s.runner.Handler() }

// info validates the config and gives the MasterInfo the znode holds.
func (s *Server) info() (*mesospb.MasterInfo, error) {
	cfg := s.cfg
	cfg.Registerer = nil
	probe, err := master.New(cfg)
	if err != nil {
		return nil, err
	}
	return probe.Info(), nil
}

// term makes this term's master.
func (s *Server) term(ctx context.Context) (leader.Term, error) {
	cfg := s.cfg
	cfg.Registerer = nil // a fresh registry per term; /metrics follows the leader
	cfg.LeaderKey = s.leaderKey(ctx)
	m, err := master.New(cfg)
	if err != nil {
		return leader.Term{}, fmt.Errorf("starting the master for this term: %w", err)
	}
	return leader.Term{Handler: m.Handler(), Run: func(ctx context.Context) error {
		err := m.Run(ctx)
		if errors.Is(err, store.ErrFenced) {
			// A newer leader took the registry while this one still
			// thought it led (its session expired unnoticed, say).
			return fmt.Errorf("another master took over the registry: %w", err)
		}
		return err
	}}, nil
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
		s.log.Debug("the registry's store cannot see the election znode; writes are fenced only", "znode", znode, "err", err)
		return ""
	}
	return key
}

// standbyMetrics is a standby's /metrics: only that it does not lead, so
// that a scrape of every master finds the leader.
func standbyMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprint(w, "# HELP corral_master_elected 1 if this master is the leader.\n# TYPE corral_master_elected gauge\ncorral_master_elected 0\n")
}
