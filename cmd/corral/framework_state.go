package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/corral-sched/corral/election"
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
