package dns

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func TestLabelsAreSanitizedAsMesosDNSDoes(t *testing.T) {
	for in, want := range map[string]string{
		"web":                          "web",
		"apiserver.myservice":          "apiserver-myservice",
		"My_Task":                      "my-task",
		"-edge-":                       "edge",
		"naïve":                        "na-ve",
		"...":                          "",
		strings.Repeat("a", 80):        strings.Repeat("a", 63),
		strings.Repeat("a", 62) + ".b": strings.Repeat("a", 62),
	} {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %q, want %q", in, got, want)
		}
	}
	if got := dotted("Marathon.Prod"); got != "marathon.prod" {
		t.Errorf("dotted = %q", got)
	}
}

// A small cluster, built the way the follower builds it: from events.
type scenario struct{ c *cluster }

func newScenario() *scenario {
	sc := &scenario{c: newCluster()}
	sc.c.leader = "127.0.0.1:5050"
	sc.apply(&masterpb.Event{Type: masterpb.Event_SUBSCRIBED.Enum(), Subscribed: &masterpb.Event_Subscribed{GetState: &masterpb.Response_GetState{
		GetAgents: &masterpb.Response_GetAgents{Agents: []*masterpb.Response_GetAgents_Agent{
			{AgentInfo: &mesospb.AgentInfo{Id: &mesospb.AgentID{Value: proto.String("a1")}, Hostname: proto.String("agent-1")}, Pid: proto.String("agent@10.0.0.1:5051")},
			{AgentInfo: &mesospb.AgentInfo{Id: &mesospb.AgentID{Value: proto.String("a2")}, Hostname: proto.String("10.0.0.2")}},
		}},
		GetFrameworks: &masterpb.Response_GetFrameworks{Frameworks: []*masterpb.Response_GetFrameworks_Framework{
			{FrameworkInfo: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("fw-s")}, Name: proto.String("service")}},
			{FrameworkInfo: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("fw-p")}, Name: proto.String("pets")}},
		}},
	}}})
	return sc
}

func (sc *scenario) apply(ev *masterpb.Event) { sc.c.apply(ev) }

type taskOpt func(*mesospb.Task)

func (sc *scenario) add(fw, id, name, agent string, opts ...taskOpt) {
	t := &mesospb.Task{Name: proto.String(name), TaskId: &mesospb.TaskID{Value: proto.String(id)},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw)}, AgentId: &mesospb.AgentID{Value: proto.String(agent)},
		State: mesospb.TaskState_TASK_STAGING.Enum()}
	for _, o := range opts {
		o(t)
	}
	sc.apply(&masterpb.Event{Type: masterpb.Event_TASK_ADDED.Enum(), TaskAdded: &masterpb.Event_TaskAdded{Task: t}})
}

func (sc *scenario) update(fw, id string, state mesospb.TaskState, ips ...string) {
	st := &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String(id)}, State: state.Enum()}
	if len(ips) > 0 {
		ni := &mesospb.NetworkInfo{Name: proto.String("corral-net")}
		for _, ip := range ips {
			ni.IpAddresses = append(ni.IpAddresses, &mesospb.NetworkInfo_IPAddress{IpAddress: proto.String(ip)})
		}
		st.ContainerStatus = &mesospb.ContainerStatus{NetworkInfos: []*mesospb.NetworkInfo{ni}}
	}
	sc.apply(&masterpb.Event{Type: masterpb.Event_TASK_UPDATED.Enum(), TaskUpdated: &masterpb.Event_TaskUpdated{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(fw)}, Status: st, State: state.Enum()}})
}

func ports(begin, end uint64) taskOpt {
	return func(t *mesospb.Task) { t.Resources = append(t.Resources, resources.Range("ports", begin, end)) }
}

func labels(kv ...string) taskOpt {
	return func(t *mesospb.Task) {
		t.Labels = &mesospb.Labels{}
		for i := 0; i+1 < len(kv); i += 2 {
			t.Labels.Labels = append(t.Labels.Labels, &mesospb.Label{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
		}
	}
}

func discovery(ps ...*mesospb.Port) taskOpt {
	return func(t *mesospb.Task) {
		t.Discovery = &mesospb.DiscoveryInfo{Visibility: mesospb.DiscoveryInfo_CLUSTER.Enum(), Ports: &mesospb.Ports{Ports: ps}}
	}
}

// server returns a Server answering from the scenario's records.
func (sc *scenario) server(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	s.publish(build(sc.c, s.domain, 1))
	return s
}

func query(s *Server, name string, qtype uint16) *dns.Msg {
	req := new(dns.Msg).SetQuestion(name, qtype)
	return s.answer(req, false)
}

// answers renders the answer section as "value" strings, sorted.
func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		case *dns.SRV:
			out = append(out, r.Target+":"+strconv.Itoa(int(r.Port)))
		default:
			out = append(out, rr.String())
		}
	}
	slices.Sort(out)
	return out
}

func expect(t *testing.T, s *Server, name string, qtype uint16, rcode int, want ...string) {
	t.Helper()
	m := query(s, name, qtype)
	if m.Rcode != rcode {
		t.Errorf("%s %s: rcode %s, want %s", name, dns.TypeToString[qtype], dns.RcodeToString[m.Rcode], dns.RcodeToString[rcode])
		return
	}
	if got := answers(m); !slices.Equal(got, want) {
		t.Errorf("%s %s: answers %q, want %q", name, dns.TypeToString[qtype], got, want)
	}
}

func TestRecordsOfRunningTasks(t *testing.T) {
	sc := newScenario()
	sc.add("fw-s", "web.1", "web", "a1", ports(31000, 31001))
	sc.add("fw-s", "web.2", "web", "a2", ports(31005, 31005))
	sc.add("fw-s", "api.1", "api.v2", "a1", ports(31002, 31002), discovery(
		&mesospb.Port{Number: proto.Uint32(8080), Name: proto.String("http"), Protocol: proto.String("tcp")}))
	sc.add("fw-s", "staging.1", "staging", "a1")
	sc.update("fw-s", "web.1", mesospb.TaskState_TASK_RUNNING)
	sc.update("fw-s", "web.2", mesospb.TaskState_TASK_RUNNING)
	sc.update("fw-s", "api.1", mesospb.TaskState_TASK_RUNNING, "198.18.0.7")
	s := sc.server(t)

	expect(t, s, "web.service.corral.", dns.TypeA, dns.RcodeSuccess, "10.0.0.1", "10.0.0.2")
	expect(t, s, "WEB.Service.Corral.", dns.TypeA, dns.RcodeSuccess, "10.0.0.1", "10.0.0.2")
	expect(t, s, "web.service.agent.corral.", dns.TypeA, dns.RcodeSuccess, "10.0.0.1", "10.0.0.2")
	expect(t, s, "_web._tcp.service.corral.", dns.TypeSRV, dns.RcodeSuccess,
		"web.service.agent.corral.:31000", "web.service.agent.corral.:31001", "web.service.agent.corral.:31005")
	expect(t, s, "_web._udp.service.corral.", dns.TypeSRV, dns.RcodeSuccess,
		"web.service.agent.corral.:31000", "web.service.agent.corral.:31001", "web.service.agent.corral.:31005")
	// A container IP wins for the task's own name; the agent name stays
	// the agent's. Discovery ports name the container's port.
	expect(t, s, "api-v2.service.corral.", dns.TypeA, dns.RcodeSuccess, "198.18.0.7")
	expect(t, s, "api-v2.service.agent.corral.", dns.TypeA, dns.RcodeSuccess, "10.0.0.1")
	expect(t, s, "_api-v2._tcp.service.corral.", dns.TypeSRV, dns.RcodeSuccess, "api-v2.service.corral.:8080")
	expect(t, s, "_http._api-v2._tcp.service.corral.", dns.TypeSRV, dns.RcodeSuccess, "api-v2.service.corral.:8080")
	expect(t, s, "_api-v2._tcp.service.agent.corral.", dns.TypeSRV, dns.RcodeSuccess, "api-v2.service.agent.corral.:31002")
	expect(t, s, "_api-v2._udp.service.corral.", dns.TypeSRV, dns.RcodeNameError)
	// Not running yet: no name.
	expect(t, s, "staging.service.corral.", dns.TypeA, dns.RcodeNameError)
	// Names that exist without that type, or only as a parent: NODATA.
	expect(t, s, "web.service.corral.", dns.TypeAAAA, dns.RcodeSuccess)
	expect(t, s, "service.corral.", dns.TypeA, dns.RcodeSuccess)
	expect(t, s, "leader.corral.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1")
	expect(t, s, "_leader._tcp.corral.", dns.TypeSRV, dns.RcodeSuccess, "leader.corral.:5050")
	expect(t, s, "nope.service.corral.", dns.TypeA, dns.RcodeNameError)

	srv := query(s, "_web._tcp.service.corral.", dns.TypeSRV)
	if !srv.Authoritative || len(srv.Extra) != 2 {
		t.Errorf("SRV answer: authoritative %v, additional %v; want the targets' addresses", srv.Authoritative, srv.Extra)
	}
	if nx := query(s, "nope.service.corral.", dns.TypeA); len(nx.Ns) != 1 || nx.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("NXDOMAIN without the SOA: %v", nx.Ns)
	}
}

func TestRecordsFollowTasksEndingAndMoving(t *testing.T) {
	sc := newScenario()
	sc.add("fw-p", "db-0.1", "db-0", "a1", labels("corral.pets.set", "db", "corral.pets.ordinal", "0"))
	sc.update("fw-p", "db-0.1", mesospb.TaskState_TASK_RUNNING)
	expect(t, sc.server(t), "db-0.db.pets.corral.", dns.TypeA, dns.RcodeSuccess, "10.0.0.1")

	// The pet moves: its old task ends, a new one runs on the other agent.
	sc.update("fw-p", "db-0.1", mesospb.TaskState_TASK_KILLED)
	expect(t, sc.server(t), "db-0.db.pets.corral.", dns.TypeA, dns.RcodeNameError)
	sc.add("fw-p", "db-0.2", "db-0", "a2", labels("corral.pets.set", "db", "corral.pets.ordinal", "0"))
	sc.update("fw-p", "db-0.2", mesospb.TaskState_TASK_RUNNING, "198.18.0.9")
	s := sc.server(t)
	expect(t, s, "db-0.db.pets.corral.", dns.TypeA, dns.RcodeSuccess, "198.18.0.9")
	expect(t, s, "db-0.pets.corral.", dns.TypeA, dns.RcodeSuccess, "198.18.0.9")
	// A later update without network infos keeps the container IP.
	sc.update("fw-p", "db-0.2", mesospb.TaskState_TASK_RUNNING)
	expect(t, sc.server(t), "db-0.db.pets.corral.", dns.TypeA, dns.RcodeSuccess, "198.18.0.9")

	// The framework goes: so do its names.
	sc.apply(&masterpb.Event{Type: masterpb.Event_FRAMEWORK_REMOVED.Enum(), FrameworkRemoved: &masterpb.Event_FrameworkRemoved{
		FrameworkInfo: &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("fw-p")}, Name: proto.String("pets")}}})
	expect(t, sc.server(t), "db-0.db.pets.corral.", dns.TypeA, dns.RcodeNameError)
}

func TestAPortRangeMakesABoundedNumberOfRecords(t *testing.T) {
	sc := newScenario()
	sc.add("fw-s", "greedy.1", "greedy", "a1", ports(1, 65535))
	sc.update("fw-s", "greedy.1", mesospb.TaskState_TASK_RUNNING)
	s := sc.server(t)
	m := s.answer(new(dns.Msg).SetQuestion("_greedy._tcp.service.corral.", dns.TypeSRV), true)
	if len(m.Answer) != maxPortsPerTask {
		t.Errorf("%d SRV records, want %d", len(m.Answer), maxPortsPerTask)
	}
}
