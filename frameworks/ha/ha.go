// Package ha runs a bundled framework under ZooKeeper leader election, so
// that several instances can be started and one of them schedules. The
// others are standbys: they redirect API requests to the leader with 307
// (the full URL, so that REST clients and the CLI follow it) and answer
// /health themselves. Each time an instance is elected it starts a fresh
// framework from the shared Store; the framework's tasks outlive any one
// leader.
package ha

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/internal/uuid"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Term is one leadership term's framework.
type Term struct {
	Handler http.Handler
	// Run runs the framework until ctx ends (leadership lost or shutdown).
	Run func(ctx context.Context) error
}

// Server is a framework instance under leader election.
type Server struct {
	session *election.Session
	path    string
	addr    string
	id      string
	start   func(ctx context.Context) (Term, error)
	log     *slog.Logger

	detector *election.Detector
	current  atomic.Pointer[http.Handler]
	terms    atomic.Int64
	// stepDown ends the current term (Abdicate); nil while not leading.
	stepDown atomic.Pointer[context.CancelFunc]
}

// New prepares a Server contending under path; addr is where its API is
// reached (host:port), start builds the framework for each term.
func New(session *election.Session, path, addr string, log *slog.Logger, start func(ctx context.Context) (Term, error)) *Server {
	id := uuid.New().String()
	return &Server{session: session, path: path, addr: addr, id: id, start: start,
		log: log.With("component", "ha", "id", id), detector: election.NewDetector(session, path)}
}

// Leading reports whether this instance leads now.
func (s *Server) Leading() bool { return s.current.Load() != nil }

// Terms counts how many times this instance has been elected.
func (s *Server) Terms() int64 { return s.terms.Load() }

// Run contends for leadership until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	host, portText, err := net.SplitHostPort(s.addr)
	if err != nil {
		return fmt.Errorf("ha: address %q: %w", s.addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("ha: address %q: %w", s.addr, err)
	}
	info := &mesospb.MasterInfo{
		Id: proto.String(s.id), Ip: proto.Uint32(0), Port: proto.Uint32(uint32(port)), Hostname: proto.String(host),
		Address: &mesospb.Address{Hostname: proto.String(host), Port: proto.Int32(int32(port))},
	}
	return election.Contend(ctx, s.session, s.path, info, s.lead)
}

// Abdicate ends this instance's term if it leads: its framework stops,
// its znode goes, and it contends again behind the others, so that one of
// them leads next (Marathon's DELETE /v2/leader). It reports whether
// there was a term to end.
func (s *Server) Abdicate() bool {
	stop := s.stepDown.Load()
	if stop == nil {
		return false
	}
	s.log.Warn("abdicating leadership on request")
	(*stop)()
	return true
}

func (s *Server) lead(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.stepDown.Store(&cancel)
	defer s.stepDown.Store(nil)
	term, err := s.start(ctx)
	if err != nil {
		s.log.Error("cannot start the framework for this term", "err", err)
		return
	}
	s.current.Store(&term.Handler)
	s.terms.Add(1)
	s.log.Info("leading", "term", s.terms.Load())
	if err := term.Run(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("framework stopped", "err", err)
	}
	s.current.Store(nil)
	s.log.Warn("no longer leading")
}

// Handler serves the leader's API while leading and redirects otherwise.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.current.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/health" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"healthy\":true,\"leader\":false,\"id\":%q}\n", s.id)
			return
		}
		leader, _, err := s.detector.Current()
		if err != nil || leader == nil || leader.GetId() == s.id {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "no instance of this framework leads right now; retry shortly", http.StatusServiceUnavailable)
			return
		}
		u := *r.URL
		u.Scheme, u.Host = "http", election.Address(leader)
		w.Header().Set("Location", u.String())
		http.Error(w, "this instance is a standby; the leader is "+u.Host, http.StatusTemporaryRedirect)
	})
}
