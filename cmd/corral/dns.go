package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/dns"
)

func newDNSCommand() *cobra.Command {
	cmd, f := newServerCommand("dns", "Serve DNS names of running tasks and pets, following the master's event stream",
		"Serve A and SRV records for running tasks (<task>.<framework>.<domain>,\n"+
			"_<task>._tcp.<framework>.<domain>) and pets (<pet>.<set>.pets.<domain>), as Mesos-DNS\n"+
			"does, from the leading master's operator event stream. Other names go to --resolvers,\n"+
			"or are refused.", runDNS)
	f.String("domain", "corral", "domain the names are served under")
	f.String("listen", "127.0.0.1:8053", "address to answer DNS on (UDP and TCP)")
	f.String("http-listen", "127.0.0.1:8123", "address of /metrics and /health")
	addMasterClientFlags(f)
	f.Duration("zk-session-timeout", 10*time.Second, "ZooKeeper session timeout")
	f.String("resolvers", "", "comma-separated host:port of DNS servers for names outside --domain (default: refuse them)")
	f.Duration("ttl", 5*time.Second, "time to live of the answers")
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

// closeSockets closes the DNS sockets of a server that will not run.
func (d *dnsComponent) closeSockets() {
	d.udp.Close()
	d.tcp.Close()
}

func runDNS(cmd *cobra.Command, s *settings, log *slog.Logger, _ *slog.LevelVar) error {
	ttl, err := s.Duration("ttl")
	if err != nil {
		return err
	}
	tlsCfg, err := tlsFiles(s.String).Client()
	if err != nil {
		return err
	}
	transport, err := withCredentials(&http.Transport{TLSClientConfig: tlsCfg}, s.String)
	if err != nil {
		return err
	}
	follow := dns.FollowConfig{Master: s.String("master"), Client: &http.Client{Transport: transport}, Scheme: auth.Scheme(tlsCfg)}
	if s.String("zk") != "" {
		zk, err := dialZK(s, log, true)
		if err != nil {
			return err
		}
		defer zk.Close()
		follow.Detector = zk.detector()
	}
	comp, err := newDNSComponent(s.String("listen"), dns.Config{Domain: s.String("domain"), TTL: ttl, Resolvers: splitList(s.String("resolvers")), Logger: log}, follow)
	if err != nil {
		return err
	}
	hln, err := listen(s.String("http-listen"))
	if err != nil {
		comp.closeSockets()
		return err
	}
	ctx, stop := untilSignalled(cmd)
	defer stop()
	return serveWhileRunning(ctx, hln, comp, log, cmd.OutOrStdout(),
		fmt.Sprintf("corral dns serving %s on %s (udp, tcp); metrics on http://%s", comp.s.Domain(), comp.Addr(), hln.Addr()))
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
		comp.closeSockets()
		return "", err
	}
	c.start(comp, hln, log)
	domain := strings.TrimSuffix(comp.s.Domain(), ".")
	fmt.Fprintf(out, "dns      %s (udp, tcp) for *.%s, metrics http://%s\n", comp.Addr(), domain, hln.Addr())
	return domain, nil
}
