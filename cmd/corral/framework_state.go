package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/frameworks/ha"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/store"
)

// frameworkState is where a bundled framework keeps its state and how it
// finds the master: with --zk a ZooKeeper session, the leader detector and
// a store under <path>/frameworks/<name>; otherwise a local store under
// --work-dir and the --master flag (Detector nil).
type frameworkState struct {
	Store    store.Store
	Detector sdk.Detector
	// Session and LeaderPath are set with --zk: instances elect a leader
	// there.
	Session    *election.Session
	LeaderPath string
}

// openFrameworkState opens it; close releases what it opened.
func openFrameworkState(s *settings, name string, log *slog.Logger) (st frameworkState, close func(), err error) {
	zkURL := s.String("zk")
	if zkURL == "" {
		local, err := store.OpenLocal(filepath.Clean(s.String("work-dir")))
		if err != nil {
			return frameworkState{}, nil, fmt.Errorf("opening the state in --work-dir: %w", err)
		}
		return frameworkState{Store: local}, func() { local.Close() }, nil
	}
	zu, err := store.ParseZKURLAuth(zkURL)
	if err != nil {
		return frameworkState{}, nil, fmt.Errorf("--zk: %w", err)
	}
	servers, path := zu.Servers, zu.Root
	timeout, err := s.Duration("zk-session-timeout")
	if err != nil {
		return frameworkState{}, nil, err
	}
	session, err := election.DialAuth(servers, timeout, zu.Credentials, log)
	if err != nil {
		return frameworkState{}, nil, err
	}
	zk, err := store.DialZooKeeper(servers, path+"/frameworks/"+name, zu.Credentials, timeout, log)
	if err != nil {
		session.Close()
		return frameworkState{}, nil, err
	}
	return frameworkState{Store: zk, Detector: election.NewDetector(session, path), Session: session,
			LeaderPath: path + "/frameworks/" + name + "-leader"},
		func() { zk.Close(); session.Close() }, nil
}

// frameworkServer is how a bundled framework is served.
type frameworkServer struct {
	Name     string // in the "listening" line: service, pets, batch
	Listener net.Listener
	Scheme   string
	Addr     string // what the leader advertises to standbys
	State    frameworkState
	Log      *slog.Logger
	// Start makes a fresh framework: once, or once per leadership term.
	Start func(ctx context.Context) (ha.Term, error)
	// Elected, if set, is given the election before it runs (the service
	// framework's DELETE /v2/leader abdicates through it).
	Elected func(*ha.Server)
}

// serve runs the framework until ctx ends: alone, or, when the state has
// a ZooKeeper session, as one of several instances that elect a leader;
// standbys answer /health and redirect the rest to the leader.
func (fs frameworkServer) serve(ctx context.Context, out io.Writer) error {
	if fs.State.Session == nil {
		term, err := fs.Start(ctx)
		if err != nil {
			fs.Listener.Close()
			return err
		}
		srv := serveHTTP(fs.Listener, term.Handler, fs.Log)
		fmt.Fprintf(out, "corral %s listening on %s://%s\n", fs.Name, fs.Scheme, fs.Listener.Addr())
		err = term.Run(ctx)
		srv.shutdown()
		return err
	}
	server := ha.New(fs.State.Session, fs.State.LeaderPath, fs.Addr, fs.Log, fs.Start)
	if fs.Elected != nil {
		fs.Elected(server)
	}
	srv := serveHTTP(fs.Listener, server.Handler(), fs.Log)
	fmt.Fprintf(out, "corral %s listening on %s://%s (contending for leadership)\n", fs.Name, fs.Scheme, fs.Listener.Addr())
	err := server.Run(ctx)
	srv.shutdown()
	return err
}
