package master

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/master/core"
	"github.com/corral-sched/corral/proto/agentpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Pongs are answered off the loop: with the loop held up (as by a long
// allocation round at 50,000 agents), an agent's PONG on its stream still
// gets its 202 at once. A PONG on a stream the agent has since replaced
// is refused.
func TestPongsAreAnsweredWhileTheLoopIsBusy(t *testing.T) {
	m, srv, _ := startMasterServer(t, nil)
	a, code, body := tryRegister(t, srv.URL, agentSub("", "host-a", 5051, "boot-a"))
	if a == nil {
		t.Fatalf("registration: %d %q", code, body)
	}
	a.id = a.next(agentpb.Event_SUBSCRIBED).GetSubscribed().GetAgentId().GetValue()
	old := a.stream.streamID
	again, code, body := tryRegister(t, srv.URL, agentSub(a.id, "host-a", 5051, "boot-a"))
	if again == nil {
		t.Fatalf("re-registration: %d %q", code, body)
	}
	again.id = a.id
	again.next(agentpb.Event_SUBSCRIBED)

	release := holdLoop(t, m)
	answered := make(chan string, 1)
	go func() { answered <- pongStatus(srv.URL, again.stream.streamID, a.id) }()
	select {
	case status := <-answered:
		if status != "202 Accepted" {
			t.Fatalf("a PONG on the agent's stream: %s, want 202 Accepted", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a PONG on the agent's stream waited for the held loop")
	}

	if err := release(); err != nil {
		t.Fatal(err)
	}
	post(t, srv.URL+"/api/v1/agent", codec.Protobuf, old, &agentpb.Call{Type: agentpb.Call_PONG.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)}, Pong: &agentpb.Call_Pong{}}, http.StatusBadRequest)
}

// pongStatus posts agent's PONG on stream and returns the status.
func pongStatus(base, stream, agent string) string {
	body, _ := proto.Marshal(&agentpb.Call{Type: agentpb.Call_PONG.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(agent)}, Pong: &agentpb.Call_Pong{}})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/agent", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.Protobuf.MediaType())
	req.Header.Set(streamIDHeader, stream)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return resp.Status
}

// holdLoop holds m's loop busy until release, which returns the error of
// the call that held it. Releasing twice is harmless; the test's end
// releases it.
func holdLoop(t *testing.T, m *Master) (release func() error) {
	t.Helper()
	held, free := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- m.do(context.Background(), func(*core.Core) {
			close(held)
			<-free
		})
	}()
	<-held
	var once sync.Once
	var err error
	release = func() error {
		once.Do(func() { close(free); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = release() })
	return release
}
