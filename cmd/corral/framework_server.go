package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

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
	// ZK is --zk without its password.
	ZK string
}

// openFrameworkState opens it; close releases what it opened.
func openFrameworkState(s *settings, name string, log *slog.Logger) (st frameworkState, close func(), err error) {
	if s.String("zk") == "" {
		local, err := store.OpenLocal(filepath.Clean(s.String("work-dir")))
		if err != nil {
			return frameworkState{}, nil, fmt.Errorf("opening the state in --work-dir: %w", err)
		}
		return frameworkState{Store: local}, func() { local.Close() }, nil
	}
	zk, err := dialZK(s, log, true)
	if err != nil {
		return frameworkState{}, nil, err
	}
	path := zk.url.Root
	registry, err := store.DialZooKeeper(zk.url.Servers, path+"/frameworks/"+name, zk.url.Credentials, zk.timeout, log)
	if err != nil {
		zk.Close()
		return frameworkState{}, nil, err
	}
	return frameworkState{Store: registry, Detector: zk.detector(), Session: zk.Session,
			LeaderPath: path + "/frameworks/" + name + "-leader", ZK: zk.redacted},
		func() { registry.Close(); zk.Close() }, nil
}

// run runs the row's framework until SIGINT or SIGTERM: alone, or, with
// --zk, as one of several instances that elect a leader.
func (fc frameworkCommand) run(cmd *cobra.Command, s *settings, log *slog.Logger, _ *slog.LevelVar) error {
	ctx, stop := untilSignalled(cmd)
	defer stop()
	fs := frameworkSettings{Master: s.String("master"), Name: s.String("name"), User: s.String("user"), Logger: log}
	var err error
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
	defer ln.Close() // on the way out early; serving closes it otherwise
	addr := ln.Addr().String()
	if fc.advertise {
		addr = advertised(s.String("advertise"), ln)
	}
	fs.WebUIURL = scheme + "://" + addr
	var runner *leader.Runner // under --zk
	if state.Session != nil {
		fs.ZK = state.ZK
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
			return err
		}
		return serveWhileRunning(ctx, ln, termComponent{term}, log, out, fmt.Sprintf("corral %s listening on %s://%s", fc.name, scheme, ln.Addr()))
	}
	// Under ZooKeeper only the leader runs the framework, so that two
	// instances never act on one app, set or job; each term starts
	// afresh from the shared store.
	runner = leader.New(leader.Config{Session: state.Session, Path: state.LeaderPath, Addr: addr, Start: start,
		Redirect: leader.ToURL, Noun: "instance", Log: log})
	return serveWhileRunning(ctx, ln, runner, log, out, fmt.Sprintf("corral %s listening on %s://%s (contending for leadership)", fc.name, scheme, ln.Addr()))
}

// termComponent serves and runs a framework's one term when it runs
// alone.
type termComponent struct{ term leader.Term }

func (t termComponent) Handler() http.Handler         { return t.term.Handler }
func (t termComponent) Run(ctx context.Context) error { return t.term.Run(ctx) }
