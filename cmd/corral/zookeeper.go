package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/store"
)

// zkSession is a session with the ensemble --zk names, with what the
// server that dialed it needs of the URL.
type zkSession struct {
	*election.Session
	url store.ZKURL
	// timeout is --zk-session-timeout, for the registry's own session.
	timeout time.Duration
	// redacted is --zk without its password, for logs and the start line.
	redacted string
}

// dialZK dials --zk with --zk-session-timeout. authenticate: with the
// URL's credentials, as the servers that write there (masters, frameworks)
// and dns do; an agent only reads where the leader is, which anyone may.
func dialZK(s *settings, log *slog.Logger, authenticate bool) (*zkSession, error) {
	raw := s.String("zk")
	zu, err := store.ParseZKURLAuth(raw)
	if err != nil {
		return nil, fmt.Errorf("--zk: %w", err)
	}
	timeout, err := s.Duration("zk-session-timeout")
	if err != nil {
		return nil, err
	}
	credentials := ""
	if authenticate {
		credentials = zu.Credentials
	}
	session, err := election.DialAuth(zu.Servers, timeout, credentials, log)
	if err != nil {
		return nil, err
	}
	return &zkSession{Session: session, url: zu, timeout: timeout, redacted: store.RedactZKURL(raw)}, nil
}

// detector finds the leading master under the URL's path.
func (z *zkSession) detector() *election.Detector { return election.NewDetector(z.Session, z.url.Root) }
