package dns

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/corral-sched/corral/proto/mesospb"
)

// FuzzAnswer feeds the handler whatever unpacks as a DNS message: it must
// answer without panicking, with a message that packs, and over UDP
// within the size the client can take.
func FuzzAnswer(f *testing.F) {
	sc := newScenario()
	sc.add("fw-s", "web.1", "web", "a1", ports(31000, 31010))
	sc.update("fw-s", "web.1", mesospb.TaskState_TASK_RUNNING, "198.18.0.1", "2001:db8::1")
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	s.publish(build(sc.c, s.domain, 1))
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.service.corral.", dns.TypeA}, {"_web._tcp.service.corral.", dns.TypeSRV}, {"corral.", dns.TypeANY}, {"example.com.", dns.TypeA}} {
		m := new(dns.Msg).SetQuestion(q.name, q.qtype)
		b, _ := m.Pack()
		f.Add(b, false)
		m.SetEdns0(1232, true)
		b, _ = m.Pack()
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, packet []byte, tcp bool) {
		req := new(dns.Msg)
		if req.Unpack(packet) != nil {
			return // the server drops or FORMERRs what does not unpack
		}
		resp := s.answer(req, tcp)
		if resp == nil {
			t.Fatal("no answer and no resolvers to forward to")
		}
		b, err := resp.Pack()
		if err != nil {
			t.Fatalf("the answer does not pack: %v", err)
		}
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = max(dns.MinMsgSize, min(int(opt.UDPSize()), 4096))
			}
		}
		if len(b) > limit {
			t.Fatalf("a %d-byte answer for a client that takes %d", len(b), limit)
		}
	})
}
