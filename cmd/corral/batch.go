package main

import (
	"context"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/frameworks/ha"
)

func newBatchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Run the batch framework (jobs, schedules, dependencies) at /v1/jobs",
		Args:  cobra.NoArgs,
		RunE:  runBatch,
	}
	addCommonFlags(cmd)
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8082", "address of the REST API")
	f.String("master", "127.0.0.1:5050", "host:port of a master")
	addClientCredentialFlags(f)
	addTLSFlags(f)
	addAPIAuthFlags(f, "the REST API", "/health stays")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path): find the leader there and keep state under <path>/frameworks/batch")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("work-dir", "./.work/batch", "directory for the framework's state when not using ZooKeeper")
	f.String("name", "batch", "framework name")
	f.String("user", "root", "user tasks run as")
	return cmd
}

// batchComponent adapts the framework to the dev cluster's components.
type batchComponent struct {
	f        *batch.Framework
	gatherer prometheus.Gatherer
}

func (b batchComponent) Handler() http.Handler         { return b.f.Handler(b.gatherer) }
func (b batchComponent) Run(ctx context.Context) error { return b.f.Run(ctx) }

func runBatch(cmd *cobra.Command, _ []string) error {
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
	cfg := batch.Config{Master: s.String("master"), Name: s.String("name"), User: s.String("user"), Logger: log}
	if cfg.Principal, cfg.Secret, err = clientCredentials(s.String); err != nil {
		return err
	}
	if cfg.APICredentials, err = apiCredentials(s); err != nil {
		return err
	}
	if cfg.TLS, err = tlsFiles(s.String).Client(); err != nil {
		return err
	}
	state, closeState, err := openFrameworkState(s, cfg.Name, log)
	if err != nil {
		return err
	}
	defer closeState()
	cfg.Store, cfg.Detector = state.Store, state.Detector
	ln, scheme, err := secureListen(s.String("listen"), tlsFiles(s.String))
	if err != nil {
		return err
	}
	reg := serverRegistry()
	// Under ZooKeeper, instances elect a leader: only the leader runs
	// jobs, so that two instances never launch one run twice.
	return frameworkServer{Name: "batch", Listener: ln, Scheme: scheme, Addr: ln.Addr().String(), State: state, Log: log,
		Start: func(ctx context.Context) (ha.Term, error) {
			f, err := batch.New(ctx, cfg)
			if err != nil {
				return ha.Term{}, err
			}
			return ha.Term{Handler: f.Handler(reg), Run: f.Run}, nil
		}}.serve(ctx, cmd.OutOrStdout())
}
