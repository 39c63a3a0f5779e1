package main

import (
	"context"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/frameworks/ha"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/store"
)

func newServiceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the service framework (long-running apps, Marathon's REST API) at /v2/apps",
		Long: "Run the service framework. With --zk, several instances may run: they elect a\n" +
			"leader through ZooKeeper, share their state there, and standbys redirect API\n" +
			"requests to the leader.",
		Args: cobra.NoArgs,
		RunE: runService,
	}
	addCommonFlags(cmd)
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8080", "address of the REST API")
	f.String("advertise", "", "host:port others reach the REST API at (default: the listen address)")
	f.String("master", "127.0.0.1:5050", "host:port of a master")
	addClientCredentialFlags(f)
	addTLSFlags(f)
	addAPIAuthFlags(f, "the REST API", "/health and /ping stay")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path): find the leading master there, keep state under <path>/frameworks/<name> and elect a leading instance")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("work-dir", "./.work/service", "directory for the framework's state when not using ZooKeeper")
	f.String("name", "service", "framework name")
	f.String("user", "root", "user tasks run as")
	f.String("bridge-network", "mesos-bridge", "the CNI network apps with networks [{mode: container/bridge}] join (Marathon's --mesos_bridge_name)")
	return cmd
}

// serviceComponent adapts the framework to the dev cluster's components.
type serviceComponent struct {
	f        *service.Framework
	gatherer prometheus.Gatherer
}

func (s serviceComponent) Handler() http.Handler         { return s.f.Handler(s.gatherer) }
func (s serviceComponent) Run(ctx context.Context) error { return s.f.Run(ctx) }

func runService(cmd *cobra.Command, _ []string) error {
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
	ln, scheme, err := secureListen(s.String("listen"), tlsFiles(s.String))
	if err != nil {
		return err
	}
	addr := advertised(s.String("advertise"), ln)
	cfg := service.Config{Master: s.String("master"), Name: s.String("name"), User: s.String("user"),
		WebUIURL: scheme + "://" + addr, BridgeNetwork: s.String("bridge-network"), Logger: log}
	if cfg.TLS, err = tlsFiles(s.String).Client(); err != nil {
		ln.Close()
		return err
	}
	if cfg.Principal, cfg.Secret, err = clientCredentials(s.String); err != nil {
		return err
	}
	if cfg.APICredentials, err = apiCredentials(s); err != nil {
		ln.Close()
		return err
	}
	reg := serverRegistry()

	state, closeState, err := openFrameworkState(s, cfg.Name, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeState()
	cfg.Store, cfg.Detector = state.Store, state.Detector
	var server *ha.Server
	if state.Session != nil {
		// The Marathon API's DELETE /v2/leader steps this instance down.
		cfg.Abdicate = func() bool { return server.Abdicate() }
		cfg.ZK = store.RedactZKURL(s.String("zk"))
	}
	return frameworkServer{Name: "service", Listener: ln, Scheme: scheme, Addr: addr, State: state, Log: log,
		Start: func(ctx context.Context) (ha.Term, error) {
			f, err := service.New(ctx, cfg)
			if err != nil {
				return ha.Term{}, err
			}
			return ha.Term{Handler: f.Handler(reg), Run: f.Run}, nil
		},
		Elected: func(s *ha.Server) { server = s }}.serve(ctx, cmd.OutOrStdout())
}
