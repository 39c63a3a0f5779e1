package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/frameworks/batch"
	"github.com/corral-sched/corral/frameworks/pets"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/store"
)

// framework is what a bundled framework is to its command and to the dev
// cluster.
type framework interface {
	Handler(gatherer prometheus.Gatherer) http.Handler
	Run(ctx context.Context) error
}

// frameworkComponent adapts a framework to the dev cluster's components.
type frameworkComponent[F framework] struct {
	f        F
	gatherer prometheus.Gatherer
}

func (c frameworkComponent[F]) Handler() http.Handler         { return c.f.Handler(c.gatherer) }
func (c frameworkComponent[F]) Run(ctx context.Context) error { return c.f.Run(ctx) }

type (
	serviceComponent = frameworkComponent[*service.Framework]
	petsComponent    = frameworkComponent[*pets.Framework]
	batchComponent   = frameworkComponent[*batch.Framework]
)

// frameworkSettings are the settings every bundled framework's Config
// takes, read from the flags all framework commands share.
type frameworkSettings struct {
	Master, Name, User string
	Principal, Secret  string
	TLS                *tls.Config // verifying the master
	APICredentials     auth.Credentials
	Store              store.Store
	Detector           sdk.Detector // nil without --zk
	Logger             *slog.Logger
	// WebUIURL is where the REST API is reached (scheme://advertised).
	WebUIURL string
	// ZK is --zk with its credentials redacted; "" without.
	ZK string
	// Abdicate steps the instance down under --zk; nil without.
	Abdicate func() bool
}

// frameworkCommand is one row of the framework commands' table: what
// tells one bundled framework's command from another's.
type frameworkCommand struct {
	name  string // the subcommand, and the default framework name and work dir
	short string
	// listen is the REST API's default address.
	listen string
	// open names what --authenticate-http leaves open.
	open string
	// advertise adds --advertise: the address the REST API is reached at
	// when it is not the listen address.
	advertise bool
	// flags adds the flags only this framework has.
	flags func(f *pflag.FlagSet)
	// newFramework makes the framework: once, or once per leadership
	// term under --zk.
	newFramework func(ctx context.Context, s *settings, fs frameworkSettings) (framework, error)
}

// frameworkCommands are the bundled frameworks' server commands.
var frameworkCommands = []frameworkCommand{
	{
		name: "service", short: "Run the service framework (long-running apps, Marathon's REST API) at /v2/apps",
		listen: "127.0.0.1:8080", open: "/health and /ping stay", advertise: true,
		flags: func(f *pflag.FlagSet) {
			f.String("bridge-network", "mesos-bridge", "the CNI network apps with networks [{mode: container/bridge}] join (Marathon's --mesos_bridge_name)")
		},
		newFramework: func(ctx context.Context, s *settings, fs frameworkSettings) (framework, error) {
			return service.New(ctx, service.Config{Master: fs.Master, Detector: fs.Detector, Principal: fs.Principal, Secret: fs.Secret,
				TLS: fs.TLS, Store: fs.Store, Name: fs.Name, User: fs.User, WebUIURL: fs.WebUIURL, APICredentials: fs.APICredentials,
				BridgeNetwork: s.String("bridge-network"), Abdicate: fs.Abdicate, ZK: fs.ZK, Logger: fs.Logger})
		},
	},
	{
		name: "pets", short: "Run the pets framework (stateful sets) at /v1/petsets",
		listen: "127.0.0.1:8081", open: "/health stays",
		flags: func(f *pflag.FlagSet) {
			f.String("dns-domain", "", "the domain corral dns serves (e.g. corral): pets are then told their peers' stable names (db-0.db.pets.corral) in CORRAL_PETSET_PEERS and their own in CORRAL_PET_DNS_NAME")
		},
		newFramework: func(ctx context.Context, s *settings, fs frameworkSettings) (framework, error) {
			return pets.New(ctx, pets.Config{Master: fs.Master, Detector: fs.Detector, Principal: fs.Principal, Secret: fs.Secret,
				TLS: fs.TLS, Store: fs.Store, Name: fs.Name, User: fs.User, APICredentials: fs.APICredentials,
				DNSDomain: s.String("dns-domain"), Logger: fs.Logger})
		},
	},
	{
		name: "batch", short: "Run the batch framework (jobs, schedules, dependencies) at /v1/jobs",
		listen: "127.0.0.1:8082", open: "/health stays",
		newFramework: func(ctx context.Context, _ *settings, fs frameworkSettings) (framework, error) {
			return batch.New(ctx, batch.Config{Master: fs.Master, Detector: fs.Detector, Principal: fs.Principal, Secret: fs.Secret,
				TLS: fs.TLS, Store: fs.Store, Name: fs.Name, User: fs.User, APICredentials: fs.APICredentials, Logger: fs.Logger})
		},
	},
}

// command makes the row's cobra command.
func (fc frameworkCommand) command() *cobra.Command {
	cmd, f := newServerCommand(fc.name, fc.short,
		fc.short+".\n\nWith --zk, several instances may run: they elect a leader through ZooKeeper,\n"+
			"share their state there, and standbys redirect API requests to the leader.", fc.run)
	f.String("listen", fc.listen, "address of the REST API")
	if fc.advertise {
		f.String("advertise", "", "host:port others reach the REST API at (default: the listen address)")
	}
	f.String("master", "127.0.0.1:5050", "host:port of a master")
	addCredentialFlags(f, "the master")
	addTLSFlags(f)
	addAPIAuthFlags(f, "the REST API", fc.open)
	f.String("zk", "", "ZooKeeper URL (zk://host:port,.../path): find the leading master there, keep state under <path>/frameworks/<name> and elect a leading instance")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("work-dir", "./.work/"+fc.name, "directory for the framework's state when not using ZooKeeper")
	f.String("name", fc.name, "framework name")
	f.String("user", "root", "user tasks run as")
	if fc.flags != nil {
		fc.flags(f)
	}
	return cmd
}

// newFrameworkCommands makes every row's command.
func newFrameworkCommands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, fc := range frameworkCommands {
		cmds = append(cmds, fc.command())
	}
	return cmds
}
