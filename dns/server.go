package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server.
type Config struct {
	// Domain names are served under; default "corral".
	Domain string
	// TTL of every answer; default 5 s, short because tasks move.
	TTL time.Duration
	// Resolvers (host:port) get the names outside Domain. With none, such
	// queries are REFUSED: the server is never an open resolver unless
	// told to be one.
	Resolvers []string
	// ForwardTimeout bounds one forwarded query; default 2 s.
	ForwardTimeout time.Duration
	// Registerer gets the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server answers DNS queries from the latest table. Publish and the
// handler may run concurrently: tables are immutable and swapped whole.
type Server struct {
	cfg     Config
	domain  string // FQDN, lower case
	ttl     uint32
	table   atomic.Pointer[table]
	rotate  atomic.Uint32 // spreads clients over a name's records
	fwd     *dns.Client
	metrics *metrics
	log     *slog.Logger
}

// New returns a server with no records yet (every name in the domain is
// NXDOMAIN until the first Publish).
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		cfg.Domain = "corral"
	}
	domain := dotted(cfg.Domain)
	if domain != strings.ToLower(strings.Trim(cfg.Domain, ".")) {
		return nil, fmt.Errorf("dns: domain %q: use letters, digits and '-' in dot-separated labels", cfg.Domain)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	for _, r := range cfg.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return nil, fmt.Errorf("dns: resolver %q is not host:port: %w", r, err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, domain: domain + ".", ttl: uint32(cfg.TTL / time.Second), metrics: m, log: cfg.Logger,
		fwd: &dns.Client{Net: "udp", Timeout: cfg.ForwardTimeout}}
	s.table.Store(&table{domain: s.domain, names: map[string]*rrset{s.domain: {}}})
	return s, nil
}

// Domain returns the FQDN names are served under, e.g. "corral.".
func (s *Server) Domain() string { return s.domain }

func (s *Server) publish(t *table) {
	s.table.Store(t)
	s.metrics.names.Set(float64(len(t.names)))
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	resp := s.answer(req, tcp)
	if resp == nil {
		resp = s.forward(req, tcp)
	}
	s.count(req, resp)
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns: writing an answer", "err", err)
	}
}

// answer is the reply to req, or nil when req is a name outside the
// domain and resolvers are configured (forward it). It never fails: a
// request it cannot make sense of gets FORMERR or NOTIMP.
func (s *Server) answer(req *dns.Msg, tcp bool) *dns.Msg {
	resp := new(dns.Msg)
	switch {
	case req.Opcode != dns.OpcodeQuery:
		return resp.SetRcode(req, dns.RcodeNotImplemented)
	case len(req.Question) != 1:
		return resp.SetRcode(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if name != s.domain && !strings.HasSuffix(name, "."+s.domain) {
		if len(s.cfg.Resolvers) > 0 && req.RecursionDesired {
			return nil
		}
		return resp.SetRcode(req, dns.RcodeRefused)
	}
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = len(s.cfg.Resolvers) > 0
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	t := s.table.Load()
	rs, ok := t.names[name]
	if !ok {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{s.soa(t)}
		return s.fit(req, resp, tcp)
	}
	hdr := func(rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.ttl}
	}
	all := q.Qtype == dns.TypeANY
	if all || q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA {
		resp.Answer = append(resp.Answer, s.addrs(hdr, rs, q.Qtype)...)
	}
	if all || q.Qtype == dns.TypeSRV {
		n := len(rs.srvs)
		start := s.start(n)
		for i := range n {
			sv := rs.srvs[(start+i)%n]
			h := hdr(dns.TypeSRV)
			resp.Answer = append(resp.Answer, &dns.SRV{Hdr: h, Priority: 0, Weight: 1, Port: sv.port, Target: sv.target})
			if target, ok := t.names[sv.target]; ok && !containsName(resp.Extra, sv.target) {
				th := func(rrtype uint16) dns.RR_Header {
					return dns.RR_Header{Name: sv.target, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.ttl}
				}
				resp.Extra = append(resp.Extra, s.addrs(th, target, dns.TypeANY)...)
			}
		}
	}
	if name == s.domain {
		if all || q.Qtype == dns.TypeSOA {
			resp.Answer = append(resp.Answer, s.soa(t))
		}
		if all || q.Qtype == dns.TypeNS {
			resp.Answer = append(resp.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "ns1." + s.domain})
		}
	}
	if len(resp.Answer) == 0 {
		resp.Ns = []dns.RR{s.soa(t)} // NODATA: the name exists, not with that type
	}
	return s.fit(req, resp, tcp)
}

// addrs returns rs's A (IPv4) or AAAA (IPv6) records, or both for ANY,
// starting at a rotating offset.
func (s *Server) addrs(hdr func(uint16) dns.RR_Header, rs *rrset, qtype uint16) []dns.RR {
	var out []dns.RR
	n := len(rs.addrs)
	start := s.start(n)
	for i := range n {
		ip := rs.addrs[(start+i)%n]
		switch {
		case ip.Is4() && qtype != dns.TypeAAAA:
			out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && qtype != dns.TypeA:
			out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out
}

func (s *Server) start(n int) int {
	if n < 2 {
		return 0
	}
	return int(s.rotate.Add(1) % uint32(n))
}

func containsName(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if rr.Header().Name == name {
			return true
		}
	}
	return false
}

func (s *Server) soa(t *table) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: s.ttl},
		Ns:  "ns1." + s.domain, Mbox: "root.ns1." + s.domain, Serial: t.serial,
		Refresh: 60, Retry: 60, Expire: 86400, Minttl: s.ttl,
	}
}

// fit keeps a UDP answer within what the client can take (512 bytes, or
// its EDNS0 buffer), setting TC so that it retries over TCP.
func (s *Server) fit(req, resp *dns.Msg, tcp bool) *dns.Msg {
	size := dns.MinMsgSize
	if tcp {
		size = dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if !tcp {
			size = max(dns.MinMsgSize, min(int(opt.UDPSize()), 4096))
		}
		if resp.IsEdns0() == nil {
			resp.SetEdns0(uint16(min(size, 4096)), false)
		}
	}
	resp.Truncate(size)
	return resp
}

// forward asks the resolvers in turn, over TCP when the client used TCP
// or the answer came back truncated; SERVFAIL if none answers.
func (s *Server) forward(req *dns.Msg, tcp bool) *dns.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ForwardTimeout)
	defer cancel()
	start := time.Now()
	defer func() { s.metrics.forwardSeconds.Observe(time.Since(start).Seconds()) }()
	var errs []error
	for _, r := range s.cfg.Resolvers {
		c := s.fwd
		if tcp {
			c = &dns.Client{Net: "tcp", Timeout: s.cfg.ForwardTimeout}
		}
		resp, _, err := c.ExchangeContext(ctx, req, r)
		if err == nil && resp.Truncated && !tcp {
			resp, _, err = (&dns.Client{Net: "tcp", Timeout: s.cfg.ForwardTimeout}).ExchangeContext(ctx, req, r)
		}
		if err == nil {
			resp.Id = req.Id
			return s.fit(req, resp, tcp)
		}
		errs = append(errs, fmt.Errorf("%s: %w", r, err))
	}
	s.log.Debug("dns: no resolver answered", "name", req.Question[0].Name, "err", errors.Join(errs...))
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}

// Serve answers on conn (UDP) and ln (TCP) until ctx ends.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn, ln net.Listener) error {
	servers := []*dns.Server{
		{PacketConn: conn, Handler: s, UDPSize: 4096},
		{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxTCPQueries: 128},
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("dns: serving: %w", err)
	}
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	return err
}

// Listen opens the UDP and TCP sockets of addr. With port 0 the kernel
// picks the UDP port and TCP takes the same number, which another socket
// may hold: then it tries another.
func Listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	for try := 0; ; try++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listening on %s/udp: %w", addr, err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || try == 20 {
			return nil, nil, fmt.Errorf("dns: listening on %s/tcp: %w", udp.LocalAddr(), err)
		}
	}
}
