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
	"github.com/corral-sched/corral/frameworks/pets"
)

func newPetsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pets",
		Short: "Run the pets framework (stateful sets) at /v1/petsets",
		Args:  cobra.NoArgs,
		RunE:  runPets,
	}
	addCommonFlags(cmd)
	f := cmd.Flags()
	f.String("listen", "127.0.0.1:8081", "address of the REST API")
	f.String("master", "127.0.0.1:5050", "host:port of a master")
	addClientCredentialFlags(f)
	addTLSFlags(f)
	addAPIAuthFlags(f, "the REST API", "/health stays")
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path): find the leader there and keep state under <path>/frameworks/pets")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("work-dir", "./.work/pets", "directory for the framework's state when not using ZooKeeper")
	f.String("name", "pets", "framework name")
	f.String("user", "root", "user tasks run as")
	f.String("dns-domain", "", "the domain corral dns serves (e.g. corral): pets are then told their peers' stable names (db-0.db.pets.corral) in CORRAL_PETSET_PEERS and their own in CORRAL_PET_DNS_NAME")
	return cmd
}

// petsComponent adapts the framework to the dev cluster's components.
type petsComponent struct {
	f        *pets.Framework
	gatherer prometheus.Gatherer
}

func (p petsComponent) Handler() http.Handler         { return p.f.Handler(p.gatherer) }
func (p petsComponent) Run(ctx context.Context) error { return p.f.Run(ctx) }

func runPets(cmd *cobra.Command, _ []string) error {
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
	cfg := pets.Config{Master: s.String("master"), Name: s.String("name"), User: s.String("user"), DNSDomain: s.String("dns-domain"), Logger: log}
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
	return frameworkServer{Name: "pets", Listener: ln, Scheme: scheme, Addr: ln.Addr().String(), State: state, Log: log,
		Start: func(ctx context.Context) (ha.Term, error) {
			f, err := pets.New(ctx, cfg)
			if err != nil {
				return ha.Term{}, err
			}
			return ha.Term{Handler: f.Handler(reg), Run: f.Run}, nil
		}}.serve(ctx, cmd.OutOrStdout())
}
