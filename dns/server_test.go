package dns

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/corral-sched/corral/proto/mesospb"
)

// serve runs s on fresh loopback sockets and returns its address.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	pc, ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return pc.LocalAddr().String()
}

func exchange(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	var resp *dns.Msg
	var err error
	// The servers start in goroutines: the first query may beat them.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, _, err = c.Exchange(new(dns.Msg).SetQuestion(name, qtype), addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

func TestOtherNamesAreRefusedUnlessResolversAreConfigured(t *testing.T) {
	// The upstream: a DNS server on loopback that knows one name.
	upstream, err := New(Config{Domain: "example.test"})
	if err != nil {
		t.Fatal(err)
	}
	sc := newScenario()
	sc.add("fw-s", "www.1", "www", "a1")
	sc.update("fw-s", "www.1", mesospb.TaskState_TASK_RUNNING)
	sc.c.frameworks["fw-s"] = "svc"
	upstream.publish(build(sc.c, upstream.domain, 1))
	upAddr := serve(t, upstream)

	closed, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if m := exchange(t, "udp", serve(t, closed), "www.svc.example.test.", dns.TypeA); m.Rcode != dns.RcodeRefused {
		t.Errorf("with no resolvers, a foreign name got %s, want REFUSED", dns.RcodeToString[m.Rcode])
	}

	reg := prometheus.NewRegistry()
	fwd, err := New(Config{Resolvers: []string{"127.0.0.1:1", upAddr}, ForwardTimeout: time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, fwd)
	for _, network := range []string{"udp", "tcp"} {
		m := exchange(t, network, addr, "www.svc.example.test.", dns.TypeA)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.1" {
			t.Errorf("forwarded over %s: %v", network, m)
		}
	}
	if m := exchange(t, "udp", addr, "nope.corral.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Errorf("an unknown name in the domain got %s, want NXDOMAIN", dns.RcodeToString[m.Rcode])
	}
	if got := counted(t, fwd, "A", "NXDOMAIN"); got != 1 {
		t.Errorf("queries_total{A,NXDOMAIN} = %v, want 1", got)
	}
	if got := counted(t, fwd, "A", "NOERROR"); got != 2 {
		t.Errorf("queries_total{A,NOERROR} = %v, want 2", got)
	}
}

// A name with more records than a UDP answer holds: the UDP answer is
// truncated with TC, the TCP answer has them all.
func TestBigAnswersAreTruncatedOverUDPAndWholeOverTCP(t *testing.T) {
	sc := newScenario()
	for i := range 60 {
		id := fmt.Sprintf("web.%d", i)
		sc.add("fw-s", id, "web", "a1")
		sc.update("fw-s", id, mesospb.TaskState_TASK_RUNNING, fmt.Sprintf("198.18.0.%d", i+1))
	}
	s := sc.server(t)
	addr := serve(t, s)
	udp := exchange(t, "udp", addr, "web.service.corral.", dns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 60 {
		t.Errorf("UDP answer: truncated %v with %d records, want TC and fewer than 60", udp.Truncated, len(udp.Answer))
	}
	tcp := exchange(t, "tcp", addr, "web.service.corral.", dns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 60 {
		t.Errorf("TCP answer: truncated %v with %d records, want all 60", tcp.Truncated, len(tcp.Answer))
	}
}

// Garbage on the wire is dropped or answered FORMERR; the server goes on.
func TestGarbageDoesNotStopTheServer(t *testing.T) {
	s := newScenario().server(t)
	addr := serve(t, s)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{0}, []byte(strings.Repeat("\xff", 12)), make([]byte, 65000), []byte("GET / HTTP/1.1\r\n\r\n")} {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0xff, 0xff, 1, 2, 3})
	tc.Close()
	if m := exchange(t, "udp", addr, "leader.corral.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("after garbage: %v", m)
	}
}

func counted(t *testing.T, s *Server, typ, rcode string) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.queries.WithLabelValues(typ, rcode).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// BenchmarkUDPQueries is a load generator over UDP on loopback: parallel
// clients, each on its own socket, ask for the A records of one of 1,000
// running tasks.
func BenchmarkUDPQueries(b *testing.B) {
	sc := newScenario()
	for i := range 1000 {
		id := fmt.Sprintf("t%d.1", i)
		sc.add("fw-s", id, fmt.Sprintf("t%d", i), "a1", ports(31000, 31000))
		sc.update("fw-s", id, mesospb.TaskState_TASK_RUNNING)
	}
	s, err := New(Config{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	s.publish(build(sc.c, s.domain, 1))
	addr := serve(b, s)
	var n atomic.Int64
	start := time.Now()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		for i := 0; pb.Next(); i++ {
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			if err := conn.WriteMsg(new(dns.Msg).SetQuestion(fmt.Sprintf("t%d.service.corral.", i%1000), dns.TypeA)); err != nil {
				b.Error(err)
				return
			}
			m, err := conn.ReadMsg()
			if err != nil || len(m.Answer) != 1 {
				b.Errorf("answer %v, %v", m, err)
				return
			}
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "answers/s")
}
