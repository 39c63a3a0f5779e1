package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/dns"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/store"
)

func newDNSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Serve DNS names of running tasks and pets, following the master's event stream",
		Long: "Serve A and SRV records for running tasks (<task>.<framework>.<domain>,\n" +
			"_<task>._tcp.<framework>.<domain>) and pets (<pet>.<set>.pets.<domain>), as Mesos-DNS\n" +
			"does, from the leading master's operator event stream. Other names go to --resolvers,\n" +
			"or are refused.",
		Args: cobra.NoArgs,
		RunE: runDNS,
	}
	addCommonFlags(cmd)
	f := cmd.Flags()
	f.String("domain", "corral", "domain the names are served under")
	f.String("listen", "127.0.0.1:8053", "address to answer DNS on (UDP and TCP)")
	f.String("http-listen", "127.0.0.1:8123", "address of /metrics and /health")
	f.String("master", "127.0.0.1:5050", "host:port of a master (a standby redirects to the leader)")
	f.String("zk", "", "ZooKeeper URL to find the leading master (zk://host:port,.../path)")
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("resolvers", "", "comma-separated host:port of DNS servers for names outside --domain (default: refuse them)")
	f.Duration("ttl", 5*time.Second, "time to live of the answers")
	addClientCredentialFlags(f)
	f.String("tls-ca", "", "PEM CA bundle verifying the master, which is then called over https")
	f.String("tls-cert", "", "PEM client certificate, if the master asks for one")
	f.String("tls-key", "", "PEM key of --tls-cert")
	return cmd
}

// dnsComponent is a DNS server, its sockets and how it reaches the master.
type dnsComponent struct {
	s        *dns.Server
	follow   dns.FollowConfig
	udp      net.PacketConn
	tcp      net.Listener
	gatherer prometheus.Gatherer
}

func (d *dnsComponent) Handler() http.Handler { return d.s.Handler(d.gatherer) }

// Run answers queries and follows the master until ctx ends.
func (d *dnsComponent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- d.s.Serve(ctx, d.udp, d.tcp) }()
	err := d.s.Follow(ctx, d.follow)
	cancel()
	if serr := <-served; err == nil {
		err = serr
	}
	return err
}

// newDNSComponent opens the DNS sockets at addr (UDP and TCP, same port).
func newDNSComponent(addr string, cfg dns.Config, follow dns.FollowConfig) (*dnsComponent, error) {
	reg := serverRegistry()
	cfg.Registerer = reg
	s, err := dns.New(cfg)
	if err != nil {
		return nil, err
	}
	udp, tcp, err := dns.Listen(addr)
	if err != nil {
		return nil, err
	}
	return &dnsComponent{s: s, follow: follow, udp: udp, tcp: tcp, gatherer: reg}, nil
}

func (d *dnsComponent) Addr() string { return d.udp.LocalAddr().String() }

func runDNS(cmd *cobra.Command, _ []string) error {
	s, err := loadSettings(cmd)
	if err != nil {
		return err
	}
	log, err := logger(s)
	if err != nil {
		return err
	}
	ttl, err := s.Duration("ttl")
	if err != nil {
		return err
	}
	var resolvers []string
	for r := range strings.SplitSeq(s.String("resolvers"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			resolvers = append(resolvers, r)
		}
	}
	tlsCfg, err := tlsFiles(s.String).Client()
	if err != nil {
		return err
	}
	var transport http.RoundTripper = &http.Transport{TLSClientConfig: tlsCfg}
	principal, secret, err := clientCredentials(s.String)
	if err != nil {
		return err
	}
	if principal != "" {
		transport = &auth.Transport{Base: transport, Principal: principal, Secret: secret}
	}
	follow := dns.FollowConfig{Master: s.String("master"), Client: &http.Client{Transport: transport}, Scheme: auth.Scheme(tlsCfg)}
	if zkURL := s.String("zk"); zkURL != "" {
		zu, err := store.ParseZKURLAuth(zkURL)
		if err != nil {
			return fmt.Errorf("--zk: %w", err)
		}
		timeout, err := s.Duration("zk-session-timeout")
		if err != nil {
			return err
		}
		session, err := election.DialAuth(zu.Servers, timeout, zu.Credentials, log)
		if err != nil {
			return err
		}
		defer session.Close()
		follow.Detector = election.NewDetector(session, zu.Root)
	}
	comp, err := newDNSComponent(s.String("listen"), dns.Config{Domain: s.String("domain"), TTL: ttl, Resolvers: resolvers, Logger: log}, follow)
	if err != nil {
		return err
	}
	hln, err := listen(s.String("http-listen"))
	if err != nil {
		comp.udp.Close()
		comp.tcp.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := serveHTTP(hln, comp.Handler(), log)
	fmt.Fprintf(cmd.OutOrStdout(), "corral dns serving %s on %s (udp, tcp); metrics on http://%s\n", comp.s.Domain(), comp.Addr(), hln.Addr())
	err = comp.Run(ctx)
	srv.shutdown()
	return err
}

// startDNS runs the DNS server inside `corral dev`, following its master,
// and returns the domain pets should name their peers in ("" when
// --dns-listen is empty).
func (c *devCluster) startDNS(s *settings, master string, out io.Writer, log *slog.Logger) (string, error) {
	addr := s.String("dns-listen")
	if addr == "" {
		return "", nil
	}
	comp, err := newDNSComponent(addr, dns.Config{Domain: s.String("dns-domain"), Logger: log}, dns.FollowConfig{Master: master})
	if err != nil {
		return "", err
	}
	host, _, _ := net.SplitHostPort(master)
	hln, err := listen(net.JoinHostPort(host, "0"))
	if err != nil {
		comp.udp.Close()
		comp.tcp.Close()
		return "", err
	}
	c.start(comp, hln, log)
	domain := strings.TrimSuffix(comp.s.Domain(), ".")
	fmt.Fprintf(out, "dns      %s (udp, tcp) for *.%s, metrics http://%s\n", comp.Addr(), domain, hln.Addr())
	return domain, nil
}
