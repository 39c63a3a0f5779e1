package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/election/leader"
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

// run runs the row's framework until SIGINT or SIGTERM: alone, or, with
// --zk, as one of several instances that elect a leader.
func (fc frameworkCommand) run(cmd *cobra.Command) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	log, err := logger(s)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fs := frameworkSettings{Master: s.String("master"), Name: s.String("name"), User: s.String("user"), Logger: log}
	if fs.Principal, fs.Secret, err = clientCredentials(s.String); err != nil {
		return err
	}
	if fs.APICredentials, err = apiCredentials(s); err != nil {
		return err
	}
	if fs.TLS, err = tlsFiles(s.String).Client(); err != nil {
		return err
	}
	state, closeState, err := openFrameworkState(s, fs.Name, log)
	if err != nil {
		return err
	}
	defer closeState()
	fs.Store, fs.Detector = state.Store, state.Detector
	ln, scheme, err := secureListen(s.String("listen"), tlsFiles(s.String))
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	if fc.advertise {
		addr = advertised(s.String("advertise"), ln)
	}
	fs.WebUIURL = scheme + "://" + addr
	var runner *leader.Runner // under --zk
	if state.Session != nil {
		fs.ZK = store.RedactZKURL(s.String("zk"))
		fs.Abdicate = func() bool { return runner.Abdicate() } // Marathon's DELETE /v2/leader
	}
	reg := serverRegistry()
	start := func(ctx context.Context) (leader.Term, error) {
		f, err := fc.newFramework(ctx, s, fs)
		if err != nil {
			return leader.Term{}, err
		}
		return leader.Term{Handler: f.Handler(reg), Run: f.Run}, nil
	}
	out := cmd.OutOrStdout()
	if state.Session == nil {
		term, err := start(ctx)
		if err != nil {
			ln.Close()
			return err
		}
		srv := serveHTTP(ln, term.Handler, log)
		fmt.Fprintf(out, "corral %s listening on %s://%s\n", fc.name, scheme, ln.Addr())
		err = term.Run(ctx)
		srv.shutdown()
		return err
	}
	// Under ZooKeeper only the leader runs the framework, so that two
	// instances never act on one app, set or job; each term starts
	// afresh from the shared store.
	runner = leader.New(leader.Config{Session: state.Session, Path: state.LeaderPath, Addr: addr, Start: start,
		Redirect: leader.ToURL, Noun: "instance", Log: log})
	srv := serveHTTP(ln, runner.Handler(), log)
	fmt.Fprintf(out, "corral %s listening on %s://%s (contending for leadership)\n", fc.name, scheme, ln.Addr())
	err = runner.Run(ctx)
	srv.shutdown()
	return err
}
