package core

import (
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// benchMaster is a master whose state holds n connected agents and fws
// connected frameworks, for measuring allocation inside the master (the
// snapshot, the allocator and the offers), without HTTP.
func benchMaster(b *testing.B, n, fws int) (*Core, *state) {
	m, err := New(Config{Addr: "127.0.0.1:5050", Logger: slog.New(slog.DiscardHandler)}, Options{Post: (&testPost{}).post})
	if err != nil {
		b.Fatal(err)
	}
	s := m.st
	total, err := resources.Parse("cpus:32;mem:65536;disk:100000;ports:[31000-32000]", "*")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("S%d", i)
		s.agents[id] = &agentState{id: id, info: &mesospb.AgentInfo{Hostname: proto.String(id)}, health: agentActive,
			conn: &AgentConn{out: newRecorder()}, total: total, tasks: map[taskKey]*task{}, offers: map[string]*offer{}}
		s.touch(s.agents[id]) // as a subscribing agent is
	}
	for i := range fws {
		id := fmt.Sprintf("F%d", i)
		info := &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String(id)}, User: proto.String("u"), Name: proto.String(id)}
		s.frameworks[id] = &framework{id: id, info: info, roles: []string{"*"}, conn: &SchedulerConn{out: newRecorder()},
			suppressed: map[string]bool{}, offers: map[string]*offer{}, tasks: map[string]*task{}, allocated: map[string]resources.Resources{}}
	}
	return m, s
}

// BenchmarkMasterRound measures a round in the master after one offer is
// declined, in a cluster where everything else is offered out: with
// incremental rounds it touches one agent; a full round touches all.
func BenchmarkMasterRound(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, full := range []bool{false, true} {
			b.Run(fmt.Sprintf("agents=%d/full=%v", n, full), func(b *testing.B) {
				m, s := benchMaster(b, n, 100)
				m.allocate(s) // everything is offered out
				var victim *offer
				for _, o := range s.offers {
					victim = o
					break
				}
				for b.Loop() {
					m.removeOffer(s, victim, false) // a decline without a filter
					if full {
						s.requestFullRound()
					}
					m.allocate(s)
					for _, o := range s.agents[victim.agentID].offers {
						victim = o
					}
				}
			})
		}
	}
}
